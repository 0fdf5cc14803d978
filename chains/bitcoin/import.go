package bitcoin

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
)

// maxPSBTSize bounds an imported PSBT (a standard transaction is at most 400 000 WU).
const maxPSBTSize = 1 << 20

// ImportPSBT decodes an externally built PSBT (binary, or base64 when isBase64) and accepts it for
// signing only if every input spends the wallet's own key-path output with SIGHASH_DEFAULT, carries
// its witness UTXO, is unsigned, no outpoint repeats, and the fee (inputs − outputs) is not negative.
// A refusal is an error wrapping [ErrForeignPSBT] (an [*InputError] when one input is to blame) with
// the reason.
func (w *Wallet) ImportPSBT(data []byte, isBase64 bool) (*psbt.Packet, error) {
	if len(data) > maxPSBTSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrForeignPSBT, len(data), maxPSBTSize)
	}
	pkt, err := DecodePSBT(data, isBase64)
	if err != nil {
		return nil, err
	}
	if err := w.checkInputs(pkt); err != nil {
		return nil, err
	}
	seen := make(map[wire.OutPoint]bool, len(pkt.UnsignedTx.TxIn))
	var in, out int64
	for i, txIn := range pkt.UnsignedTx.TxIn {
		if seen[txIn.PreviousOutPoint] {
			return nil, &InputError{Index: i, Err: fmt.Errorf("%w: outpoint spent twice", ErrForeignPSBT)}
		}
		seen[txIn.PreviousOutPoint] = true
		in += pkt.Inputs[i].WitnessUtxo.Value
		if in > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: inputs exceed 21M BTC", ErrForeignPSBT)
		}
	}
	for i, o := range pkt.UnsignedTx.TxOut {
		if o.Value < 0 || o.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: output %d value %d out of range", ErrForeignPSBT, i, o.Value)
		}
		out += o.Value
		if out > btcutil.MaxSatoshi {
			// Checked as it grows: thousands of outputs near 21M BTC each would overflow int64 and
			// make a negative fee look valid.
			return nil, fmt.Errorf("%w: outputs exceed 21M BTC", ErrForeignPSBT)
		}
	}
	if out > in {
		return nil, fmt.Errorf("%w: outputs (%d sat) exceed inputs (%d sat)", ErrForeignPSBT, out, in)
	}
	return pkt, nil
}

// DecodePSBT parses a PSBT (binary, or base64 when isBase64) and runs BIP-174 sanity checks. A PSBT
// whose PSBT_GLOBAL_VERSION is not 0 (BIP-370 version 2) is refused with [ErrPSBTVersion] before
// parsing (btcutil/psbt reads version 0 only). It never panics on malformed input.
func DecodePSBT(data []byte, isBase64 bool) (*psbt.Packet, error) {
	v, err := PSBTVersion(data, isBase64)
	if err != nil {
		return nil, err
	}
	if v != 0 {
		return nil, fmt.Errorf("%w (PSBT_GLOBAL_VERSION is %d)", ErrPSBTVersion, v)
	}
	pkt, err := psbt.NewFromRawBytes(bytes.NewReader(data), isBase64)
	if err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrForeignPSBT, err)
	}
	if err := pkt.SanityCheck(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForeignPSBT, err)
	}
	return pkt, nil
}
