package bitcoin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

func TestCheckNetwork(t *testing.T) {
	ctx := context.Background()
	node := &fakeNode{handle: func(method string, params []json.RawMessage) (any, *RPCError) {
		if method == "getblockhash" && len(params) == 1 && string(params[0]) == "0" {
			return Regtest.Params.GenesisHash.String(), nil
		}
		return nil, &RPCError{Code: -32601, Message: "no"}
	}}
	rpc, err := NewRPC(RPCConfig{URL: startFakeHandler(t, node), User: "u", Pass: "p", Retry: fastRetry(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNetwork(ctx, rpc, Regtest); err != nil {
		t.Fatalf("regtest node on regtest: %v", err)
	}
	if err := CheckNetwork(ctx, rpc, Mainnet); !errors.Is(err, ErrOtherNetwork) || !strings.Contains(err.Error(), "not on mainnet") {
		t.Fatalf("regtest node on mainnet: %v", err)
	}
	genesis := Testnet4.Params.GenesisHash.String()
	esplora := startFakeHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/block-height/0" {
			fmt.Fprint(w, genesis)
			return
		}
		http.NotFound(w, r)
	}))
	e, err := NewEsplora(esplora+"/api", nil, 0, fastRetry(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNetwork(ctx, e, Testnet4); err != nil {
		t.Fatalf("testnet4 esplora on testnet4: %v", err)
	}
	if err := CheckNetwork(ctx, e, Testnet3); !errors.Is(err, ErrOtherNetwork) {
		t.Fatalf("testnet4 esplora on testnet3 (same addresses, other chain): %v", err)
	}
	genesis = "not a hash"
	if err := CheckNetwork(ctx, e, Testnet4); !errors.Is(err, ErrBackend) {
		t.Fatalf("malformed genesis answer: %v", err)
	}
}

func TestCheckTx(t *testing.T) {
	tw := newTestWallet(t)
	dest := otherAddrs(t)["p2tr"]
	sp, err := tw.w.BuildSpend(SpendRequest{UTXOs: []UTXO{tw.utxo(1, 100_000, 1)}, Outputs: []Output{{Address: dest, Value: 60_000}}, FeeRate: SatPerVByte(2), MinConf: 1})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := tw.w.Sign(context.Background(), tw.signer, sp.Packet)
	if err != nil {
		t.Fatal(err)
	}
	prev := []*wire.TxOut{sp.Packet.Inputs[0].WitnessUtxo}
	if err := CheckTx(tx, prev); err != nil {
		t.Fatalf("valid spend: %v", err)
	}
	if err := CheckTx(tx, nil); err != nil {
		t.Fatalf("valid spend, sanity only: %v", err)
	}
	for name, f := range map[string]func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut{
		"no outputs":     func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut { tx.TxOut = nil; return prev },
		"negative value": func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut { tx.TxOut[0].Value = -1; return prev },
		"no witness":     func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut { tx.TxIn[0].Witness = nil; return prev },
		"overspend":      func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut { tx.TxOut[0].Value = 100_001; return prev },
		"wrong amount": func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut {
			return []*wire.TxOut{wire.NewTxOut(100_001, prev[0].PkScript)}
		},
		"prevouts short": func(tx *wire.MsgTx, prev []*wire.TxOut) []*wire.TxOut { return []*wire.TxOut{} },
	} {
		bad := tx.Copy()
		badPrev := f(bad, []*wire.TxOut{wire.NewTxOut(prev[0].Value, prev[0].PkScript)})
		var ce *TxCheckError
		if err := CheckTx(bad, badPrev); !errors.As(err, &ce) || ce.Reason == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
