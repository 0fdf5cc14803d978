package wallet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/vhsm/vhsm/chains/bitcoin"
)

// ownsScript reports whether an output script pays one of this wallet's
// addresses: its base address or a derived one (with its recovery leaf,
// if the wallet has a recovery path).
func (bw *btcWallet) ownsScript(script []byte) bool { return bw.w.Owns(script) }

// verifyInputs checks what a PSBT claims about the outputs its inputs
// spend against the chain backend, before anything is locked or signed:
//
//   - an input of this wallet must spend an unspent output of the wallet
//     the backend lists (confirmed or in the mempool; a coinbase output
//     only once mature) with exactly the claimed amount and script;
//   - an input spending one of the wallet's outputs but claiming another
//     amount or script is refused too (it would be signed by nobody, but
//     the fee shown would be false);
//   - any other input must exist unspent with the claimed amount and script
//     (bitcoin.OutputLookup); a backend that cannot look outputs up makes
//     such a PSBT unverifiable, and it is refused.
//
// BIP-341 signatures commit to every input's amount and script, so a false
// witness_utxo could not make a signature spend more than the signer saw;
// but it would make the review show a false fee, lock the real UTXO for a
// transaction that can never be broadcast, and sign on false data. Each
// refusal is ErrInvalid naming the input.
func (s *Service) verifyInputs(ctx context.Context, bw *btcWallet, pkt *psbt.Packet, plan *bitcoin.PSBTPlan) error {
	// Every address of the wallet (base and derived) is listed.
	us, err := s.listUTXOs(ctx, bw)
	if err != nil {
		return err
	}
	mine := make(map[string]bitcoin.UTXO, len(us))
	for _, u := range us {
		if bw.ownsScript(u.PkScript) {
			mine[outpointKey(u.OutPoint)] = u
		}
	}
	lookup, canLookup := bw.be.(bitcoin.OutputLookup)
	for i, in := range pkt.UnsignedTx.TxIn {
		op := in.PreviousOutPoint
		claim := plan.Prevouts[i]
		refuse := func(format string, a ...any) error {
			return fmt.Errorf("%w: psbt: input %d (%s): %s", ErrInvalid, i, op, fmt.Sprintf(format, a...))
		}
		if u, ok := mine[outpointKey(op)]; ok {
			switch {
			case u.Value != claim.Value:
				return refuse("witness_utxo amount %d sat does not match the chain's %d sat", claim.Value, u.Value)
			case !bytes.Equal(u.PkScript, claim.PkScript):
				return refuse("witness_utxo script does not match the chain's (this wallet's output)")
			case u.Coinbase && u.Confirmations < bitcoin.CoinbaseMaturity:
				return refuse("coinbase output not mature (%d of %d confirmations)", u.Confirmations, bitcoin.CoinbaseMaturity)
			}
			continue
		}
		if plan.IsOwn(i) {
			return refuse("not an unspent output of this wallet according to the chain backend (unknown, spent, or another amount)")
		}
		if !canLookup {
			return refuse("not this wallet's, and the chain backend cannot look other outputs up to check its amount")
		}
		got, err := lookup.TxOut(ctx, op)
		if errors.Is(err, bitcoin.ErrNotFound) {
			return refuse("the spent output is unknown or already spent according to the chain backend")
		}
		if err != nil {
			return chainErr("look up input", err)
		}
		if got.Value != claim.Value {
			return refuse("witness_utxo amount %d sat does not match the chain's %d sat", claim.Value, got.Value)
		}
		if !bytes.Equal(got.PkScript, claim.PkScript) {
			return refuse("witness_utxo script does not match the chain's")
		}
	}
	return nil
}

// signStored signs a built row's stored PSBT with the HSM: it makes the
// row's locks permanent (every own input must still be held), signs the
// wallet's inputs (bitcoin.Wallet.SignPSBT) and returns the raw
// transaction (hex; "" when inputs of others are still unsigned), its txid
// and, for a PSBT row, the sealed signed PSBT ("" for a send).
func (s *Service) signStored(ctx context.Context, bw *btcWallet, r *txRow) (raw, txid, psbtEnc string, err error) {
	b64, err := s.openMeta(ctx, "transactions", r.t.ID, "psbt", r.psbtEnc)
	if err != nil {
		return "", "", "", err
	}
	pkt, err := bitcoin.DecodePSBT([]byte(b64), true)
	if err != nil {
		return "", "", "", fmt.Errorf("%w: stored psbt is corrupt", ErrUnavailable)
	}
	plan, err := bw.w.PlanPSBT(pkt)
	if err != nil {
		return "", "", "", fmt.Errorf("%w: stored psbt: %v", ErrUnavailable, err)
	}
	held, err := s.claimLocks(ctx, r.t.ID, len(plan.Own))
	if err != nil {
		return "", "", "", s.dbErr("extend locks", err)
	}
	if !held {
		s.fail(ctx, r, "inputs were released before signing")
		return "", "", "", fmt.Errorf("%w: the transaction's inputs were released before it was signed; build it again", ErrConflict)
	}
	res, err := bw.w.SignPSBT(ctx, s.hsm, pkt)
	if err != nil {
		if r.origin != originSend {
			// Give a PSBT its lock expiry back; SignPSBT can be retried.
			exp := s.nowNano() + int64(s.cfg.PSBTLockTTL)
			s.st.q().exec(ctx, `UPDATE utxo_locks SET expires_at = ? WHERE tx_id = ?`, exp, r.t.ID)
			s.st.q().exec(ctx, `UPDATE transactions SET sign_requested = 0 WHERE id = ? AND status = ?`, r.t.ID, StatusBuilt)
		}
		if errors.Is(err, bitcoin.ErrBadSignature) {
			return "", "", "", fmt.Errorf("%w: sign: the HSM returned a signature that does not verify", ErrRejected)
		}
		if errors.Is(err, bitcoin.ErrForeignPSBT) {
			return "", "", "", fmt.Errorf("%w: psbt: %v", ErrInvalid, err)
		}
		return "", "", "", hsmErr("sign transaction", err)
	}
	if res.Tx != nil {
		var buf bytes.Buffer
		if err := res.Tx.Serialize(&buf); err != nil {
			return "", "", "", fmt.Errorf("%w: serialize transaction: %v", ErrUnavailable, err)
		}
		raw = hex.EncodeToString(buf.Bytes())
	} else if r.origin == originSend {
		return "", "", "", fmt.Errorf("%w: signed send is incomplete", ErrUnavailable)
	}
	if r.origin != originSend {
		var buf bytes.Buffer
		if err := res.Packet.Serialize(&buf); err != nil {
			return "", "", "", fmt.Errorf("%w: serialize signed psbt: %v", ErrUnavailable, err)
		}
		if psbtEnc, err = s.sealMeta(ctx, "transactions", r.t.ID, "psbt", base64.StdEncoding.EncodeToString(buf.Bytes())); err != nil {
			return "", "", "", err
		}
	}
	return raw, pkt.UnsignedTx.TxHash().String(), psbtEnc, nil
}
