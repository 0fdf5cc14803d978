package bitcoin

import (
	"bytes"
	"context"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Signer produces a BIP-340 signature with the threshold key keyID over a 32-byte BIP-341 sighash, for the Taproot
// output key derived from the key's internal (x-only) key with the given merkle root (nil = BIP-86 key-path only).
type Signer interface {
	SignTaproot(ctx context.Context, keyID string, sighash [32]byte, merkleRoot []byte) ([64]byte, error)
}

// Sighashes returns the BIP-341 SIGHASH_DEFAULT signature hash of every input of pkt. Every input must
// carry its WitnessUtxo (amount and script of the spent output, which BIP-341 commits to).
func Sighashes(pkt *psbt.Packet) ([][32]byte, error) {
	tx := pkt.UnsignedTx
	if len(pkt.Inputs) != len(tx.TxIn) {
		return nil, fmt.Errorf("%w: %d psbt inputs for %d tx inputs", ErrForeignPSBT, len(pkt.Inputs), len(tx.TxIn))
	}
	prevOuts := make([]*wire.TxOut, len(tx.TxIn))
	for i, in := range pkt.Inputs {
		if in.WitnessUtxo == nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: missing witness utxo", ErrForeignPSBT)}
		}
		prevOuts[i] = in.WitnessUtxo
	}
	types := make([]txscript.SigHashType, len(tx.TxIn)) // all SIGHASH_DEFAULT (0)
	return taprootSighashes(tx, prevOuts, types)
}

// taprootSighashes computes the BIP-341 key-path signature hash of every input of tx under its hash
// type, given the outputs the inputs spend (in input order).
func taprootSighashes(tx *wire.MsgTx, prevOuts []*wire.TxOut, types []txscript.SigHashType) ([][32]byte, error) {
	m := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	for i, in := range tx.TxIn {
		m[in.PreviousOutPoint] = prevOuts[i]
	}
	fetcher := txscript.NewMultiPrevOutFetcher(m)
	// BIP-341 common signature message parts (sha_prevouts, sha_amounts, sha_scriptpubkeys,
	// sha_sequences, sha_outputs) are computed once for all inputs.
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	out := make([][32]byte, len(tx.TxIn))
	for i := range tx.TxIn {
		// BIP-341 SigMsg(hash_type, ext_flag = 0): key-path spend.
		h, err := txscript.CalcTaprootSignatureHash(hashes, types[i], tx, i, fetcher)
		if err != nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("sighash: %w", err)}
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// Sign asks signer once per input for a signature over that input's sighash, verifies each signature
// against the wallet's output key, finalizes the witnesses and returns the signed transaction. A
// signature that does not verify is an [*InputError] wrapping [ErrBadSignature]; nothing is finalized.
// The PSBT must spend only the wallet's outputs (built by [Wallet.BuildSpend] or accepted by
// [Wallet.ImportPSBT]).
func (w *Wallet) Sign(ctx context.Context, signer Signer, pkt *psbt.Packet) (*wire.MsgTx, error) {
	if err := w.checkInputs(pkt); err != nil {
		return nil, err
	}
	hashes, err := Sighashes(pkt)
	if err != nil {
		return nil, err
	}
	sigs := make([][64]byte, len(hashes))
	keys := make([]*btcec.PublicKey, len(hashes))
	for i, h := range hashes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Each input is signed with the key of the address it spends: the wallet's own key, or
		// a derived child by its path (hdwallet.go), tweaked with that address's merkle root
		// when it has a recovery leaf (recovery.go).
		k := w.keyOf(pkt.Inputs[i].WitnessUtxo.PkScript)
		keys[i] = k.output
		sig, err := w.signKey(ctx, signer, k, h)
		if err != nil {
			return nil, &InputError{Index: i, Err: fmt.Errorf("sign: %w", err)}
		}
		sigs[i] = sig
	}
	return assembleKeys(pkt, hashes, sigs, keys)
}

// assemble verifies sigs (unless outputKey is nil, which only tests use to prove that a node rejects
// a bad signature), puts them into the PSBT, finalizes and extracts the transaction.
func assemble(pkt *psbt.Packet, hashes [][32]byte, sigs [][64]byte, outputKey *btcec.PublicKey) (*wire.MsgTx, error) {
	keys := make([]*btcec.PublicKey, len(sigs))
	for i := range keys {
		keys[i] = outputKey
	}
	return assembleKeys(pkt, hashes, sigs, keys)
}

// assembleKeys is assemble with one output key per input (a nil key skips that verification).
func assembleKeys(pkt *psbt.Packet, hashes [][32]byte, sigs [][64]byte, keys []*btcec.PublicKey) (*wire.MsgTx, error) {
	for i := range sigs {
		if outputKey := keys[i]; outputKey != nil {
			s, err := schnorr.ParseSignature(sigs[i][:])
			if err != nil {
				return nil, &InputError{Index: i, Err: fmt.Errorf("%w: malformed", ErrBadSignature)}
			}
			// BIP-340 Verify against x(Q), the x-only output key committed in the input's script.
			if !s.Verify(hashes[i][:], outputKey) {
				return nil, &InputError{Index: i, Err: fmt.Errorf("%w: does not verify against the output key", ErrBadSignature)}
			}
		}
	}
	for i := range sigs {
		// SIGHASH_DEFAULT: the signature is 64 bytes with no hash-type byte (BIP-341).
		pkt.Inputs[i].TaprootKeySpendSig = bytes.Clone(sigs[i][:])
	}
	if err := psbt.MaybeFinalizeAll(pkt); err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	tx, err := psbt.Extract(pkt)
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	return tx, nil
}

// checkInputs enforces that every input spends the wallet's key-path output with SIGHASH_DEFAULT and
// has not been signed or finalized already.
func (w *Wallet) checkInputs(pkt *psbt.Packet) error {
	if pkt == nil || pkt.UnsignedTx == nil {
		return fmt.Errorf("%w: empty psbt", ErrForeignPSBT)
	}
	if len(pkt.Inputs) != len(pkt.UnsignedTx.TxIn) || len(pkt.Outputs) != len(pkt.UnsignedTx.TxOut) {
		return fmt.Errorf("%w: input/output count mismatch", ErrForeignPSBT)
	}
	if len(pkt.Inputs) == 0 {
		return fmt.Errorf("%w: no inputs", ErrForeignPSBT)
	}
	for i, in := range pkt.Inputs {
		refuse := func(reason string) error {
			return &InputError{Index: i, Err: fmt.Errorf("%w: %s", ErrForeignPSBT, reason)}
		}
		op := pkt.UnsignedTx.TxIn[i].PreviousOutPoint
		switch {
		case in.WitnessUtxo == nil:
			return refuse("missing witness utxo (amount and script of the spent output)")
		case !w.Owns(in.WitnessUtxo.PkScript):
			return refuse("spends an output that is not the wallet's")
		case in.WitnessUtxo.Value <= 0:
			return refuse("non-positive amount")
		case in.NonWitnessUtxo != nil && (in.NonWitnessUtxo.TxHash() != op.Hash ||
			int(op.Index) >= len(in.NonWitnessUtxo.TxOut) ||
			in.NonWitnessUtxo.TxOut[op.Index].Value != in.WitnessUtxo.Value ||
			!bytes.Equal(in.NonWitnessUtxo.TxOut[op.Index].PkScript, in.WitnessUtxo.PkScript)):
			return refuse("non-witness utxo does not match the outpoint and witness utxo")
		case in.SighashType != txscript.SigHashDefault:
			return refuse(fmt.Sprintf("sighash type 0x%02x (only SIGHASH_DEFAULT is signed)", uint32(in.SighashType)))
		case len(in.TaprootInternalKey) != 0 && !bytes.Equal(in.TaprootInternalKey, w.keyOf(in.WitnessUtxo.PkScript).internal):
			return refuse("taproot internal key is not the wallet's")
		case len(in.TaprootMerkleRoot) != 0 && !bytes.Equal(in.TaprootMerkleRoot, w.keyOf(in.WitnessUtxo.PkScript).merkleRoot):
			return refuse("taproot merkle root is not the wallet's")
		case len(in.TaprootLeafScript) != 0 || len(in.TaprootScriptSpendSig) != 0:
			return refuse("script-path data present (wallet is key-path only)")
		case len(in.FinalScriptSig) != 0 || len(in.FinalScriptWitness) != 0 || len(in.TaprootKeySpendSig) != 0:
			return refuse("already signed or finalized")
		case len(in.PartialSigs) != 0 || len(in.RedeemScript) != 0 || len(in.WitnessScript) != 0:
			return refuse("non-taproot signing data present")
		}
	}
	return nil
}
