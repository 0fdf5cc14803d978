package bitcoin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// ErrPSBTVersion reports a PSBT whose PSBT_GLOBAL_VERSION is not 0. btcutil/psbt (v1.1.8) reads only
// version 0 (BIP-174); a version 2 PSBT (BIP-370) has no global unsigned transaction and must be
// converted first.
var ErrPSBTVersion = errors.New("bitcoin: PSBT version 2 (BIP-370) is not supported; convert to v0")

// psbtMagic is BIP-174's "psbt" + 0xff.
var psbtMagic = []byte{0x70, 0x73, 0x62, 0x74, 0xff}

// psbtGlobalVersion is the BIP-174/370 PSBT_GLOBAL_VERSION key type.
const psbtGlobalVersion = 0xfb

// PSBTVersion returns the PSBT_GLOBAL_VERSION of a serialized PSBT (binary, or base64 when isBase64):
// 0 when the field is absent. It reads only the global map, key by key, and never panics; malformed
// input is an error wrapping [ErrForeignPSBT].
func PSBTVersion(data []byte, isBase64 bool) (uint32, error) {
	if isBase64 {
		raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
		if err != nil {
			return 0, fmt.Errorf("%w: decode: not base64", ErrForeignPSBT)
		}
		data = raw
	}
	if !bytes.HasPrefix(data, psbtMagic) {
		return 0, fmt.Errorf("%w: decode: no PSBT magic", ErrForeignPSBT)
	}
	r := bytes.NewReader(data[len(psbtMagic):])
	// BIP-174: <global-map> := <keypair>* 0x00; <keypair> := <compact size keylen> <key> <compact size
	// valuelen> <value>; the key type is the key's first compact size (one byte below 0xfd).
	for r.Len() > 0 {
		klen, err := wire.ReadVarInt(r, 0)
		if err != nil {
			return 0, fmt.Errorf("%w: decode: global key length", ErrForeignPSBT)
		}
		if klen == 0 {
			return 0, nil // separator: end of the global map, no version field
		}
		if klen > uint64(r.Len()) {
			return 0, fmt.Errorf("%w: decode: truncated global key", ErrForeignPSBT)
		}
		key := make([]byte, klen)
		if _, err := io.ReadFull(r, key); err != nil {
			return 0, fmt.Errorf("%w: decode: truncated global key", ErrForeignPSBT)
		}
		vlen, err := wire.ReadVarInt(r, 0)
		if err != nil || vlen > uint64(r.Len()) {
			return 0, fmt.Errorf("%w: decode: truncated global value", ErrForeignPSBT)
		}
		val := make([]byte, vlen)
		if _, err := io.ReadFull(r, val); err != nil {
			return 0, fmt.Errorf("%w: decode: truncated global value", ErrForeignPSBT)
		}
		if key[0] == psbtGlobalVersion {
			// BIP-174 PSBT_GLOBAL_VERSION: key 0xfb (no key data), value <32-bit little endian uint>.
			if klen != 1 || vlen != 4 {
				return 0, fmt.Errorf("%w: decode: malformed PSBT_GLOBAL_VERSION", ErrForeignPSBT)
			}
			return binary.LittleEndian.Uint32(val), nil
		}
	}
	return 0, fmt.Errorf("%w: decode: global map not terminated", ErrForeignPSBT)
}

// PSBTPlan says what [Wallet.PlanPSBT] found in a PSBT: the output each input spends and which inputs
// are the wallet's.
type PSBTPlan struct {
	// Prevouts[i] is the output input i spends, from its witness_utxo or, failing that, from the
	// output of its non_witness_utxo (whose txid was checked against the outpoint).
	Prevouts []*wire.TxOut
	// Own lists, in order, the inputs that spend the wallet's key-path output; only these are signed.
	Own []int
	// Foreign lists the other inputs; they are left untouched.
	Foreign []int
	// In and Out are the sums of the inputs (as the PSBT claims them) and of the outputs, in satoshi.
	In, Out int64
}

// IsOwn reports whether input i is the wallet's.
func (p *PSBTPlan) IsOwn(i int) bool { return slices.Contains(p.Own, i) }

// prevout returns the output input i of pkt spends, from witness_utxo or non_witness_utxo. When both
// are present they must agree; a non_witness_utxo must hash to the outpoint's txid (BIP-174) and have
// the outpoint's index.
func prevout(pkt *psbt.Packet, i int) (*wire.TxOut, error) {
	in := &pkt.Inputs[i]
	op := pkt.UnsignedTx.TxIn[i].PreviousOutPoint
	refuse := func(reason string) error {
		return &InputError{Index: i, Err: fmt.Errorf("%w: %s", ErrForeignPSBT, reason)}
	}
	var nw *wire.TxOut
	if in.NonWitnessUtxo != nil {
		if in.NonWitnessUtxo.TxHash() != op.Hash {
			return nil, refuse("non_witness_utxo is not the transaction the input spends (txid mismatch)")
		}
		if int(op.Index) >= len(in.NonWitnessUtxo.TxOut) {
			return nil, refuse("non_witness_utxo has no output at the spent index")
		}
		nw = in.NonWitnessUtxo.TxOut[op.Index]
	}
	switch {
	case in.WitnessUtxo == nil && nw == nil:
		return nil, refuse("missing witness_utxo (amount and script of the spent output)")
	case in.WitnessUtxo == nil:
		return nw, nil
	case nw != nil && (nw.Value != in.WitnessUtxo.Value || !bytes.Equal(nw.PkScript, in.WitnessUtxo.PkScript)):
		return nil, refuse("non_witness_utxo does not match the outpoint and witness_utxo")
	}
	return in.WitnessUtxo, nil
}

// PlanPSBT checks a decoded PSBT for signing by this wallet and says which inputs are the wallet's.
// Every input must name the output it spends (witness_utxo, or a non_witness_utxo matching its
// outpoint): BIP-341 signatures commit to the amounts and scripts of all inputs. An input of the
// wallet (its witness_utxo script pays one of the wallet's addresses: its own or a derived one) must
// ask for SIGHASH_DEFAULT or SIGHASH_ALL, carry no foreign internal key, no merkle root but its
// address's (the recovery leaf's, if any), no script-path or non-Taproot data, and be unsigned.
// Other inputs are not inspected beyond their spent output. No outpoint may repeat, the sums must stay
// within 21M BTC, the outputs must not exceed the inputs, and at least one input must be the wallet's.
// A refusal wraps [ErrForeignPSBT] (an [*InputError] when one input is to blame).
func (w *Wallet) PlanPSBT(pkt *psbt.Packet) (*PSBTPlan, error) {
	if pkt == nil || pkt.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: empty psbt", ErrForeignPSBT)
	}
	tx := pkt.UnsignedTx
	if len(pkt.Inputs) != len(tx.TxIn) || len(pkt.Outputs) != len(tx.TxOut) {
		return nil, fmt.Errorf("%w: input/output count mismatch", ErrForeignPSBT)
	}
	if len(tx.TxIn) == 0 {
		return nil, fmt.Errorf("%w: no inputs", ErrForeignPSBT)
	}
	plan := &PSBTPlan{Prevouts: make([]*wire.TxOut, len(tx.TxIn))}
	seen := make(map[wire.OutPoint]bool, len(tx.TxIn))
	for i := range pkt.Inputs {
		refuse := func(reason string) error {
			return &InputError{Index: i, Err: fmt.Errorf("%w: %s", ErrForeignPSBT, reason)}
		}
		op := tx.TxIn[i].PreviousOutPoint
		if seen[op] {
			return nil, refuse("outpoint spent twice")
		}
		seen[op] = true
		po, err := prevout(pkt, i)
		if err != nil {
			return nil, err
		}
		if po.Value < 0 || po.Value > btcutil.MaxSatoshi {
			return nil, refuse("spent amount out of range")
		}
		plan.Prevouts[i] = po
		plan.In += po.Value
		if plan.In > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: inputs exceed 21M BTC", ErrForeignPSBT)
		}
		// The wallet's own address or one of its derived addresses (hdwallet.go).
		k := w.keyOf(po.PkScript)
		if k == nil {
			plan.Foreign = append(plan.Foreign, i)
			continue
		}
		in := &pkt.Inputs[i]
		switch {
		case po.Value <= 0:
			return nil, refuse("non-positive amount")
		case in.SighashType != txscript.SigHashDefault && in.SighashType != txscript.SigHashAll:
			return nil, refuse(fmt.Sprintf("sighash type 0x%02x (only SIGHASH_DEFAULT and SIGHASH_ALL are signed)", uint32(in.SighashType)))
		case len(in.TaprootInternalKey) != 0 && !bytes.Equal(in.TaprootInternalKey, k.internal):
			return nil, refuse("taproot internal key is not the wallet's")
		case len(in.TaprootMerkleRoot) != 0 && !bytes.Equal(in.TaprootMerkleRoot, k.merkleRoot):
			return nil, refuse("taproot merkle root is not the wallet's (key-path only; the recovery leaf's root if the address has one)")
		case len(in.TaprootLeafScript) != 0 || len(in.TaprootScriptSpendSig) != 0:
			return nil, refuse("script-path data present (wallet is key-path only)")
		case len(in.FinalScriptSig) != 0 || len(in.FinalScriptWitness) != 0 || len(in.TaprootKeySpendSig) != 0:
			return nil, refuse("already signed or finalized")
		case len(in.PartialSigs) != 0 || len(in.RedeemScript) != 0 || len(in.WitnessScript) != 0:
			return nil, refuse("non-taproot signing data present")
		}
		plan.Own = append(plan.Own, i)
	}
	for i, o := range tx.TxOut {
		if o.Value < 0 || o.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: output %d value %d out of range", ErrForeignPSBT, i, o.Value)
		}
		plan.Out += o.Value
		if plan.Out > btcutil.MaxSatoshi {
			// Checked as it grows: thousands of outputs near 21M BTC each would overflow int64 and
			// make a negative fee look valid.
			return nil, fmt.Errorf("%w: outputs exceed 21M BTC", ErrForeignPSBT)
		}
	}
	if plan.Out > plan.In {
		return nil, fmt.Errorf("%w: outputs (%d sat) exceed inputs (%d sat)", ErrForeignPSBT, plan.Out, plan.In)
	}
	if len(plan.Own) == 0 {
		return nil, fmt.Errorf("%w: no input spends this wallet's output", ErrForeignPSBT)
	}
	return plan, nil
}

// SignedPSBT is the result of [Wallet.SignPSBT].
type SignedPSBT struct {
	// Packet is the PSBT with PSBT_IN_TAP_KEY_SIG set on every input of the wallet (BIP-371), not
	// finalized, so that another signer or a finalizer (Bitcoin Core's finalizepsbt, Sparrow) can
	// finish it. Every other field is kept as it came.
	Packet *psbt.Packet
	// Signed lists the inputs signed (the plan's own inputs).
	Signed []int
	// Tx is the finalized transaction when every input is now signed or was finalized already, and
	// nil when inputs of others still lack their signatures.
	Tx *wire.MsgTx
}

// SignPSBT signs the wallet's inputs of pkt (as planned by [Wallet.PlanPSBT], which it runs again)
// and leaves the others untouched. For each own input it computes the BIP-341 key-path sighash under
// the input's hash type (SIGHASH_DEFAULT, or SIGHASH_ALL), asks signer once for the key of the
// address the input spends (its path for a derived address, through [PathSigner], and its merkle root
// when it has a recovery leaf), verifies the signature against that address's output key and only
// then sets PSBT_IN_TAP_KEY_SIG (64 bytes, or 65 with the 0x01 hash-type byte for SIGHASH_ALL). It
// also fills in the own inputs' witness_utxo (from a checked non_witness_utxo),
// PSBT_IN_TAP_INTERNAL_KEY, PSBT_IN_TAP_MERKLE_ROOT and PSBT_IN_TAP_BIP32_DERIVATION when missing. If then every input can be finalized,
// a finalized copy is extracted into Tx and every input's script is executed against its spent
// output; a failure there names the input. pkt itself is modified.
func (w *Wallet) SignPSBT(ctx context.Context, signer Signer, pkt *psbt.Packet) (*SignedPSBT, error) {
	plan, err := w.PlanPSBT(pkt)
	if err != nil {
		return nil, err
	}
	tx := pkt.UnsignedTx
	m := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	for i, in := range tx.TxIn {
		m[in.PreviousOutPoint] = plan.Prevouts[i]
	}
	fetcher := txscript.NewMultiPrevOutFetcher(m)
	// BIP-341 common signature message parts (sha_prevouts, sha_amounts, sha_scriptpubkeys,
	// sha_sequences, sha_outputs) over all inputs, ours or not.
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	sigs := make([][]byte, len(plan.Own))
	for k, i := range plan.Own {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ht := pkt.Inputs[i].SighashType
		// BIP-341 SigMsg(hash_type, ext_flag = 0): key-path spend.
		h, err := txscript.CalcTaprootSignatureHash(hashes, ht, tx, i, fetcher)
		if err != nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("sighash: %w", err)}
		}
		var digest [32]byte
		copy(digest[:], h)
		// The key of the address the input spends: its path (a derived address) and its merkle root
		// (a recovery leaf) go to the signer.
		key := w.keyOf(plan.Prevouts[i].PkScript)
		sig, err := w.signKey(ctx, signer, key, digest)
		if err != nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("sign: %w", err)}
		}
		// BIP-340 Verify against x(Q) before anything is put into the PSBT.
		if err := verifyKeySig(digest, sig, key.output); err != nil {
			return nil, &InputError{Index: i, Err: err}
		}
		s := bytes.Clone(sig[:])
		if ht != txscript.SigHashDefault {
			// BIP-341: a signature for a hash type other than SIGHASH_DEFAULT carries it as a 65th byte.
			s = append(s, byte(ht))
		}
		sigs[k] = s
	}
	for k, i := range plan.Own {
		in := &pkt.Inputs[i]
		in.TaprootKeySpendSig = sigs[k]
		if in.WitnessUtxo == nil {
			in.WitnessUtxo = wire.NewTxOut(plan.Prevouts[i].Value, bytes.Clone(plan.Prevouts[i].PkScript))
		}
		key := w.keyOf(plan.Prevouts[i].PkScript)
		if len(in.TaprootInternalKey) == 0 {
			in.TaprootInternalKey = bytes.Clone(key.internal)
		}
		if len(in.TaprootMerkleRoot) == 0 && key.merkleRoot != nil {
			in.TaprootMerkleRoot = bytes.Clone(key.merkleRoot)
		}
		if len(in.TaprootBip32Derivation) == 0 {
			in.TaprootBip32Derivation = w.derivation(key)
		}
	}
	out := &SignedPSBT{Packet: pkt, Signed: slices.Clone(plan.Own)}
	final, err := clonePSBT(pkt)
	if err != nil {
		return nil, fmt.Errorf("copy signed psbt: %w", err)
	}
	if psbt.MaybeFinalizeAll(final) != nil {
		return out, nil // inputs of others are not signed yet
	}
	ftx, err := psbt.Extract(final)
	if err != nil {
		return out, nil
	}
	// Every input's final script must spend its output (ours verified above; others' are checked
	// here so that a transaction reported complete is one a node accepts script-wise).
	for i := range ftx.TxIn {
		vm, err := txscript.NewEngine(plan.Prevouts[i].PkScript, ftx, i, txscript.StandardVerifyFlags, nil,
			txscript.NewTxSigHashes(ftx, fetcher), plan.Prevouts[i].Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: final witness does not spend the output: %v", ErrForeignPSBT, err)}
		}
	}
	out.Tx = ftx
	return out, nil
}

// verifyKeySig checks a BIP-340 signature over digest against the x-only output key.
func verifyKeySig(digest [32]byte, sig [64]byte, outputKey *btcec.PublicKey) error {
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return fmt.Errorf("%w: malformed", ErrBadSignature)
	}
	if !s.Verify(digest[:], outputKey) {
		return fmt.Errorf("%w: does not verify against the output key", ErrBadSignature)
	}
	return nil
}

// clonePSBT copies a packet by serializing and parsing it.
func clonePSBT(p *psbt.Packet) (*psbt.Packet, error) {
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		return nil, err
	}
	return psbt.NewFromRawBytes(&buf, false)
}

// ImportPartialPSBT decodes an externally built PSBT (binary, or base64 when isBase64) of at most
// 1 MiB, refuses any PSBT version but 0 ([ErrPSBTVersion]) and plans it ([Wallet.PlanPSBT]).
func (w *Wallet) ImportPartialPSBT(data []byte, isBase64 bool) (*psbt.Packet, *PSBTPlan, error) {
	if len(data) > maxPSBTSize {
		return nil, nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrForeignPSBT, len(data), maxPSBTSize)
	}
	pkt, err := DecodePSBT(data, isBase64)
	if err != nil {
		return nil, nil, err
	}
	plan, err := w.PlanPSBT(pkt)
	if err != nil {
		return nil, nil, err
	}
	return pkt, plan, nil
}

// CompleteWhenSigned reports whether pkt would be complete (every input finalizable) once the
// wallet's inputs in plan are signed: it finalizes a copy with placeholder key-path signatures on
// those inputs. It is a check of structure only; signatures of others are verified by
// [Wallet.SignPSBT].
func CompleteWhenSigned(pkt *psbt.Packet, plan *PSBTPlan) bool {
	c, err := clonePSBT(pkt)
	if err != nil {
		return false
	}
	for _, i := range plan.Own {
		if i >= len(c.Inputs) {
			return false
		}
		c.Inputs[i].TaprootKeySpendSig = make([]byte, 64)
		if c.Inputs[i].WitnessUtxo == nil {
			c.Inputs[i].WitnessUtxo = plan.Prevouts[i]
		}
	}
	return psbt.MaybeFinalizeAll(c) == nil
}
