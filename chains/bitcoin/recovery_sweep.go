package bitcoin

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// MaxSweepFeeRate caps the fee rate of a recovery sweep (1000 sat/vB): a higher rate is almost
// certainly a typo, and the sweep gives all the rest to one address.
const MaxSweepFeeRate FeeRate = 1_000_000

// RecoveryKey is the private recovery key the user keeps offline: a BIP-32 extended private key
// (whose children sign for xpub/branch/i) or one plain key (WIF). It is used only to sign sweeps.
type RecoveryKey struct {
	xprv *hdkeychain.ExtendedKey
	priv *btcec.PrivateKey
}

// ParseRecoveryKey parses an extended private key (xprv/tprv) or a WIF private key for net. The error
// never contains the key.
func ParseRecoveryKey(s string, net *Network) (*RecoveryKey, error) {
	if net == nil {
		return nil, fmt.Errorf("%w: no network", ErrRecovery)
	}
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 200 {
		return nil, fmt.Errorf("%w: recovery key: want an extended private key or a WIF key", ErrRecovery)
	}
	if xk, err := hdkeychain.NewKeyFromString(s); err == nil {
		if !xk.IsPrivate() {
			return nil, fmt.Errorf("%w: recovery key file holds a public key; it must hold the private key", ErrRecovery)
		}
		if !xk.IsForNet(net.Params) {
			return nil, fmt.Errorf("%w: recovery key is not for %s", ErrRecovery, net.Name)
		}
		return &RecoveryKey{xprv: xk}, nil
	}
	w, err := btcutil.DecodeWIF(s)
	if err != nil {
		return nil, fmt.Errorf("%w: recovery key: not an extended private key or a WIF key", ErrRecovery)
	}
	if !w.IsForNet(net.Params) {
		return nil, fmt.Errorf("%w: recovery WIF key is not for %s", ErrRecovery, net.Name)
	}
	return &RecoveryKey{priv: w.PrivKey}, nil
}

// NewRecoveryKeyFromExtended wraps an extended private key (tests, tools).
func NewRecoveryKeyFromExtended(xprv *hdkeychain.ExtendedKey) (*RecoveryKey, error) {
	if xprv == nil || !xprv.IsPrivate() {
		return nil, fmt.Errorf("%w: not an extended private key", ErrRecovery)
	}
	return &RecoveryKey{xprv: xprv}, nil
}

// private returns the key at path below the extended key (a plain key ignores path).
func (k *RecoveryKey) private(path []uint32) (*btcec.PrivateKey, error) {
	if k.priv != nil {
		priv, _ := btcec.PrivKeyFromBytes(k.priv.Serialize())
		return priv, nil
	}
	xk := k.xprv
	for _, n := range path {
		c, err := xk.Derive(n)
		if xk != k.xprv {
			xk.Zero() // an intermediate derived key
		}
		if err != nil {
			return nil, fmt.Errorf("%w: derive recovery key: %v", ErrRecovery, err)
		}
		xk = c
	}
	priv, err := xk.ECPrivKey()
	if xk != k.xprv {
		xk.Zero()
	}
	return priv, err
}

// Zero wipes the key from memory; the RecoveryKey is unusable afterwards.
func (k *RecoveryKey) Zero() {
	if k.xprv != nil {
		k.xprv.Zero()
	}
	if k.priv != nil {
		k.priv.Zero()
	}
}

// SweepInput is one output to sweep by the recovery script path.
type SweepInput struct {
	UTXO   UTXO
	Output *RecoveryOutput
	// KeyPath is the derivation path of the leaf's recovery key below the recovery key's extended key
	// ([DescKey.Path]); nil for a plain key.
	KeyPath []uint32
}

// SweepRequest asks to move every input to one address.
type SweepRequest struct {
	Inputs      []SweepInput
	Destination btcutil.Address
	FeeRate     FeeRate // MinRelayFeeRate..MaxSweepFeeRate
}

// Sweep is a built (and, after [SignSweep], signed) recovery sweep.
type Sweep struct {
	Tx       *wire.MsgTx
	PrevOuts []*wire.TxOut // the spent outputs, in input order
	Inputs   []SweepInput
	Fee      int64 // satoshis
	VSize    int64 // exact virtual size of the signed transaction
	Value    int64 // satoshis paid to the destination
}

// scriptPathWitnessWeight is the witness weight of one recovery input: item count 3, then
// (1+64) signature, (1+len) script, (1+33) control block.
func scriptPathWitnessWeight(script []byte) int64 {
	return 1 + (1 + schnorr.SignatureSize) + int64(wire.VarIntSerializeSize(uint64(len(script)))+len(script)) + (1 + 33)
}

// BuildSweep builds the unsigned sweep of req: version 2, one input per UTXO with nSequence = the
// leaf's N (BIP-68: bit 31 clear enables the relative lock, bit 22 clear makes it count blocks; a
// value below 0xfffffffe also signals BIP-125 replaceability), one output paying the total minus the
// fee to the destination. The fee is exact for the signed size. Inputs whose UTXO is not the
// output's script, duplicates, immature coinbase outputs, and a result below the dust limit are
// refused; nothing is built then. Whether each input is N blocks deep is the node's check (BIP-68):
// a sweep built earlier is refused as non-final when broadcast.
func BuildSweep(req SweepRequest) (*Sweep, error) {
	if len(req.Inputs) == 0 {
		return nil, fmt.Errorf("%w: nothing to sweep", ErrInvalidRequest)
	}
	if len(req.Inputs) > maxInputs {
		return nil, fmt.Errorf("%w: %d inputs (at most %d per sweep)", ErrInvalidRequest, len(req.Inputs), maxInputs)
	}
	if req.FeeRate < MinRelayFeeRate || req.FeeRate > MaxSweepFeeRate {
		return nil, fmt.Errorf("%w: fee rate must be %d..%d sat/vB", ErrInvalidRequest, MinRelayFeeRate/1000, MaxSweepFeeRate/1000)
	}
	if req.Destination == nil {
		return nil, fmt.Errorf("%w: no destination", ErrInvalidRequest)
	}
	destScript, err := payToAddr(req.Destination)
	if err != nil {
		return nil, fmt.Errorf("%w: destination: %v", ErrInvalidRequest, err)
	}
	tx := wire.NewMsgTx(2)
	prev := make([]*wire.TxOut, 0, len(req.Inputs))
	seen := make(map[wire.OutPoint]bool, len(req.Inputs))
	var total, witnessWeight int64
	for i, in := range req.Inputs {
		if in.Output == nil || in.Output.Leaf.Older < 1 {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: no recovery output", ErrRecovery)}
		}
		if !in.Output.Pays(in.UTXO.PkScript) {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: UTXO does not pay the recovery output's script", ErrInvalidRequest)}
		}
		if in.UTXO.Value <= 0 || in.UTXO.Value > btcutil.MaxSatoshi {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: value %d out of range", ErrInvalidRequest, in.UTXO.Value)}
		}
		if in.UTXO.Coinbase && in.UTXO.Confirmations < CoinbaseMaturity {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: immature coinbase output", ErrInvalidRequest)}
		}
		if seen[in.UTXO.OutPoint] {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: outpoint %s given twice", ErrInvalidRequest, in.UTXO.OutPoint)}
		}
		seen[in.UTXO.OutPoint] = true
		if total += in.UTXO.Value; total > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: inputs sum above 21 million BTC", ErrInvalidRequest)
		}
		// BIP-68 / BIP-112: nSequence = N with the disable flag (bit 31) and the type flag (bit 22,
		// 512-second units) clear: a relative lock of N blocks, which CHECKSEQUENCEVERIFY compares
		// with the script's <N>.
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.UTXO.OutPoint, Sequence: uint32(in.Output.Leaf.Older)})
		prev = append(prev, &wire.TxOut{Value: in.UTXO.Value, PkScript: bytes.Clone(in.UTXO.PkScript)})
		witnessWeight += scriptPathWitnessWeight(in.Output.Leaf.Script())
	}
	out := &wire.TxOut{Value: 0, PkScript: destScript}
	tx.AddTxOut(out)
	weight := 4*int64(tx.SerializeSizeStripped()) + segwitMarkerFlagWeight + witnessWeight
	vsize := (weight + 3) / 4
	fee := req.FeeRate.FeeFor(vsize)
	out.Value = total - fee
	if out.Value < DustLimit(destScript) {
		return nil, fmt.Errorf("%w: %d sat after a fee of %d sat is below the dust limit of %d", ErrInsufficientFunds, max(out.Value, 0), fee, DustLimit(destScript))
	}
	return &Sweep{Tx: tx, PrevOuts: prev, Inputs: append([]SweepInput(nil), req.Inputs...), Fee: fee, VSize: vsize, Value: out.Value}, nil
}

// SignSweep signs every input of sw by the script path with key: the BIP-342 tapscript sighash
// (BIP-341 SigMsg with ext_flag 1: the leaf hash, key_version 0, codesep_pos 0xffffffff) with
// SIGHASH_DEFAULT, a BIP-340 signature by the recovery key derived at the input's KeyPath, and the
// witness [signature, script, control block]. A key that is not the leaf's is an [*InputError]
// wrapping [ErrRecovery]. Finally every input is run through btcd's script engine ([CheckTx]);
// nothing is returned signed unless all verify. The transaction is modified in place only on success.
func SignSweep(sw *Sweep, key *RecoveryKey) error {
	if sw == nil || sw.Tx == nil || key == nil || len(sw.Inputs) != len(sw.Tx.TxIn) || len(sw.PrevOuts) != len(sw.Tx.TxIn) {
		return fmt.Errorf("%w: incomplete sweep", ErrInvalidRequest)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	for i, in := range sw.Tx.TxIn {
		fetcher.AddPrevOut(in.PreviousOutPoint, sw.PrevOuts[i])
	}
	tx := sw.Tx.Copy()
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range sw.Inputs {
		priv, err := key.private(in.KeyPath)
		if err != nil {
			return &InputError{Index: i, Err: err}
		}
		if !bytes.Equal(schnorr.SerializePubKey(priv.PubKey()), in.Output.Leaf.Key[:]) {
			priv.Zero()
			return &InputError{Index: i, Err: fmt.Errorf("%w: the recovery key file does not hold this output's recovery key", ErrRecovery)}
		}
		script := in.Output.Leaf.Script()
		leaf := txscript.NewBaseTapLeaf(script)
		h, err := txscript.CalcTapscriptSignaturehash(hashes, txscript.SigHashDefault, tx, i, fetcher, leaf)
		if err != nil {
			priv.Zero()
			return &InputError{Index: i, Err: fmt.Errorf("sighash: %w", err)}
		}
		sig, err := schnorr.Sign(priv, h)
		priv.Zero()
		if err != nil {
			return &InputError{Index: i, Err: fmt.Errorf("sign: %w", err)}
		}
		// SIGHASH_DEFAULT: the 64-byte signature without a hash-type byte (BIP-342).
		tx.TxIn[i].Witness = wire.TxWitness{sig.Serialize(), script, bytes.Clone(in.Output.ControlBlock)}
	}
	if err := CheckTx(tx, sw.PrevOuts); err != nil {
		return err
	}
	sw.Tx = tx
	return nil
}
