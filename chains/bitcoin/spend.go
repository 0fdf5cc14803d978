package bitcoin

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// Consensus and policy constants used by the builder.
const (
	// CoinbaseMaturity is the number of confirmations a coinbase output needs before it can be spent.
	CoinbaseMaturity = 100
	// SequenceRBF (0xfffffffd) is the input sequence used by the builder: below 0xfffffffe, so it
	// signals BIP-125 replaceability; bit 31 is set, so BIP-68 relative lock-time is disabled.
	SequenceRBF = wire.MaxTxInSequenceNum - 2
	// TaprootKeyPathWitnessWeight is the witness weight of one key-path input signed with
	// SIGHASH_DEFAULT: 1 byte item count + 1 byte length + 64 bytes signature = 66 WU.
	TaprootKeyPathWitnessWeight = 1 + 1 + schnorr.SignatureSize
	// segwitMarkerFlagWeight is the weight of the segwit marker and flag bytes (counted once per tx).
	segwitMarkerFlagWeight = 2
	// maxInputs bounds the inputs of one spend (standardness keeps a tx under 400 000 WU anyway).
	maxInputs = 1000
)

// FeeRate is a fee rate in satoshis per 1000 virtual bytes (sat/kvB), an integer so that fee arithmetic
// is exact. 1 sat/vB = 1000.
type FeeRate int64

// SatPerVByte returns the fee rate of n sat/vB.
func SatPerVByte(n int64) FeeRate { return FeeRate(n * 1000) }

// FeeFor returns the fee for vsize virtual bytes at rate r, rounded up.
func (r FeeRate) FeeFor(vsize int64) int64 { return (int64(r)*vsize + 999) / 1000 }

// UTXO is an unspent output of the wallet.
type UTXO struct {
	OutPoint      wire.OutPoint
	Value         int64  // satoshis
	PkScript      []byte // the output script; must be the wallet's
	Confirmations int64  // 0 = in the mempool
	Coinbase      bool   // coinbase outputs are spendable only after CoinbaseMaturity confirmations
}

// Output is a payment.
type Output struct {
	Address btcutil.Address
	Value   int64 // satoshis; ignored when SendMax is set
	// SendMax sends everything that is left after the other outputs and the fee to this output; at
	// most one output may set it, and no change is made.
	SendMax bool
}

// SpendRequest describes a spend from a [Wallet].
type SpendRequest struct {
	UTXOs   []UTXO   // the wallet's UTXOs, as reported by a [Backend]
	Outputs []Output // at least one
	FeeRate FeeRate  // target rate; must be at least MinRelayFeeRate
	// MinConf is the confirmations a non-coinbase UTXO needs to be selected (0 allows unconfirmed).
	MinConf int64
	// LockTime is the transaction's nLockTime (0 for none).
	LockTime uint32
}

// MinRelayFeeRate is the default minimum relay fee of Bitcoin Core and btcd (1 sat/vB).
const MinRelayFeeRate FeeRate = 1000

// Spend is a built, unsigned spend.
type Spend struct {
	Packet *psbt.Packet // BIP-174 PSBT with BIP-371 Taproot fields
	Fee    int64        // satoshis
	VSize  int64        // exact virtual size of the signed transaction
	Change int64        // satoshis returned to the wallet (0 = no change output)
	// ChangeIndex is the index of the change output, or -1.
	ChangeIndex int
}

// Wallet is a Taproot key-path wallet controlled by one threshold key. It holds public data only.
type Wallet struct {
	KeyID       string           // the signer's key identifier
	Network     *Network         // network of the addresses
	internal    *btcec.PublicKey // group key P (even-Y lift of the x-only key)
	output      *btcec.PublicKey // Q = P + H_TapTweak(P)·G (BIP-86)
	pkScript    []byte           // OP_1 <x(Q)>
	address     *btcutil.AddressTaproot
	internalXOn []byte // x(P), 32 bytes
	// root, keys and change: derived addresses (hdwallet.go); zero for a one-address wallet.
	root   *hd.ExtendedKey
	keys   map[string]*walletKey // by output script
	change *walletKey            // nil: change to the wallet's own address
	// merkleRoot is the tapscript tree's root for a wallet with a recovery leaf
	// ([NewRecoveryWallet]); nil for BIP-86 (key path only).
	merkleRoot []byte
	// tapTree is the BIP-371 PSBT_OUT_TAP_TREE of that tree (nil for BIP-86).
	tapTree []byte
}

// NewWallet returns the BIP-86 key-path-only wallet of the x-only group key internalXOnly on net.
func NewWallet(keyID string, internalXOnly []byte, net *Network) (*Wallet, error) {
	p, err := ParseInternalKey(internalXOnly)
	if err != nil {
		return nil, err
	}
	addr, err := TaprootAddress(internalXOnly, net)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("wallet script: %w", err)
	}
	return &Wallet{
		KeyID: keyID, Network: net, internal: p, output: TaprootOutputKey(p, nil),
		pkScript: script, address: addr, internalXOn: schnorr.SerializePubKey(p),
	}, nil
}

// Address returns the wallet's P2TR address.
func (w *Wallet) Address() *btcutil.AddressTaproot { return w.address }

// PkScript returns a copy of the wallet's output script.
func (w *Wallet) PkScript() []byte { return bytes.Clone(w.pkScript) }

// OutputKey returns the tweaked output key Q that signatures must verify against.
func (w *Wallet) OutputKey() *btcec.PublicKey { return w.output }

// DustLimit returns the smallest non-dust value of an output with pkScript, by Bitcoin Core's rule at
// the 3 sat/vB dust relay fee: 3 × (serialized output size + size of the input that would spend it),
// with 67 vbytes for a witness-program spend and 148 bytes otherwise. P2TR and P2WSH: 330, P2WPKH: 294,
// P2SH: 540, P2PKH: 546.
func DustLimit(pkScript []byte) int64 {
	outSize := int64(8 + wire.VarIntSerializeSize(uint64(len(pkScript))) + len(pkScript))
	inSize := int64(32 + 4 + 1 + 107 + 4) // outpoint, script length, scriptSig of a P2PKH spend, sequence
	if isWitnessProgram(pkScript) {
		inSize = 32 + 4 + 1 + 107/4 + 4
	}
	return 3 * (outSize + inSize)
}

func isWitnessProgram(s []byte) bool {
	_, _, err := txscript.ExtractWitnessProgramInfo(s)
	return err == nil
}

// VSize returns the exact virtual size that tx will have once every input carries a Taproot
// key-path witness of one 64-byte SIGHASH_DEFAULT signature: weight = 4 × stripped size + 2 (segwit
// marker and flag) + 66 per input, and vsize = ⌈weight / 4⌉ (BIP-141).
func VSize(tx *wire.MsgTx) int64 {
	weight := int64(4*tx.SerializeSizeStripped()) + segwitMarkerFlagWeight + int64(len(tx.TxIn))*TaprootKeyPathWitnessWeight
	return (weight + 3) / 4
}

// spendable reports whether u may be selected under minConf.
func spendable(u UTXO, minConf int64) bool {
	if u.Coinbase {
		return u.Confirmations >= CoinbaseMaturity
	}
	return u.Confirmations >= minConf
}

// BuildSpend selects coins and builds an unsigned PSBT paying req.Outputs, with change back to the
// wallet. See the package documentation for the coin-selection strategy and the fee accounting.
func (w *Wallet) BuildSpend(req SpendRequest) (*Spend, error) {
	if len(req.Outputs) == 0 {
		return nil, fmt.Errorf("%w: no outputs", ErrInvalidRequest)
	}
	if req.FeeRate < MinRelayFeeRate {
		return nil, fmt.Errorf("%w: fee rate %d sat/kvB below the minimum relay rate %d", ErrInvalidRequest, req.FeeRate, MinRelayFeeRate)
	}
	if req.MinConf < 0 {
		return nil, fmt.Errorf("%w: negative minimum confirmations", ErrInvalidRequest)
	}
	tx := wire.NewMsgTx(2)
	tx.LockTime = req.LockTime
	maxIdx := -1
	var fixed int64
	for i, o := range req.Outputs {
		if o.Address == nil {
			return nil, fmt.Errorf("%w: output %d has no address", ErrInvalidRequest, i)
		}
		if !o.Address.IsForNet(w.Network.Params) {
			return nil, fmt.Errorf("%w: output %d", ErrWrongNetwork, i)
		}
		script, err := txscript.PayToAddrScript(o.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: output %d: %v", ErrInvalidRequest, i, err)
		}
		if o.SendMax {
			if maxIdx >= 0 {
				return nil, fmt.Errorf("%w: outputs %d and %d both send max", ErrInvalidRequest, maxIdx, i)
			}
			maxIdx = i
			tx.AddTxOut(wire.NewTxOut(0, script))
			continue
		}
		if o.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: output %d value %d exceeds 21M BTC", ErrInvalidRequest, i, o.Value)
		}
		if o.Value < DustLimit(script) {
			return nil, fmt.Errorf("%w: output %d value %d, limit %d", ErrDust, i, o.Value, DustLimit(script))
		}
		fixed += o.Value
		if fixed > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: outputs total more than 21M BTC", ErrInvalidRequest)
		}
		tx.AddTxOut(wire.NewTxOut(o.Value, script))
	}

	// Candidates: the wallet's own, spendable UTXOs, largest first (ties by outpoint, so the choice
	// is deterministic).
	var cands []UTXO
	seen := make(map[wire.OutPoint]bool, len(req.UTXOs))
	for i, u := range req.UTXOs {
		if !w.Owns(u.PkScript) || u.Value <= 0 || !spendable(u, req.MinConf) {
			continue
		}
		// A UTXO listed twice would become a transaction spending one outpoint twice (invalid) and
		// would count its value twice; a value above 21M BTC cannot exist. Both mean a broken list.
		if seen[u.OutPoint] {
			return nil, fmt.Errorf("%w: utxo %d (%v) listed twice", ErrInvalidRequest, i, u.OutPoint)
		}
		if u.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: utxo %d value %d exceeds 21M BTC", ErrInvalidRequest, i, u.Value)
		}
		seen[u.OutPoint] = true
		cands = append(cands, u)
	}
	slices.SortFunc(cands, func(a, b UTXO) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		if c := bytes.Compare(a.OutPoint.Hash[:], b.OutPoint.Hash[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
	})
	if len(cands) > maxInputs {
		cands = cands[:maxInputs]
	}

	changeScript := w.changeKey().script
	changeDust := DustLimit(changeScript)
	var selected []UTXO
	var in int64
	addInput := func(u UTXO) {
		selected = append(selected, u)
		in += u.Value
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: u.OutPoint, Sequence: SequenceRBF})
	}

	spend := &Spend{ChangeIndex: -1}
	if maxIdx >= 0 {
		// Send max: spend every candidate; the send-max output gets in − fixed − fee.
		for _, u := range cands {
			addInput(u)
		}
		if len(selected) == 0 {
			return nil, fmt.Errorf("%w: no spendable UTXOs", ErrInsufficientFunds)
		}
		vsize := VSize(tx)
		fee := req.FeeRate.FeeFor(vsize)
		rest := in - fixed - fee
		maxOut := tx.TxOut[maxIdx]
		if rest < DustLimit(maxOut.PkScript) {
			return nil, fmt.Errorf("%w: %d sat left for the send-max output after fee %d", ErrInsufficientFunds, rest, fee)
		}
		maxOut.Value = rest
		spend.Fee, spend.VSize = fee, vsize
	} else {
		// Largest-first: add candidates until the inputs pay the outputs, the fee of a transaction
		// with a change output, and a non-dust change — or, failing that, pay the outputs and the fee
		// of a transaction without change (the remainder, below the dust limit, goes to the fee).
		withChange := tx.Copy()
		withChange.AddTxOut(wire.NewTxOut(0, changeScript))
		done := false
		for _, u := range cands {
			addInput(u)
			withChange.AddTxIn(&wire.TxIn{PreviousOutPoint: u.OutPoint, Sequence: SequenceRBF})
			vsC := VSize(withChange)
			if feeC := req.FeeRate.FeeFor(vsC); in-fixed-feeC >= changeDust {
				tx = withChange
				spend.Change = in - fixed - feeC
				spend.ChangeIndex = len(tx.TxOut) - 1
				tx.TxOut[spend.ChangeIndex].Value = spend.Change
				spend.Fee, spend.VSize = feeC, vsC
				done = true
				break
			}
			vs := VSize(tx)
			if fee := req.FeeRate.FeeFor(vs); in-fixed >= fee {
				spend.Fee, spend.VSize = in-fixed, vs // the sub-dust remainder is added to the fee
				done = true
				break
			}
		}
		if !done {
			return nil, fmt.Errorf("%w: %d sat spendable for %d sat of outputs plus the fee", ErrInsufficientFunds, in, fixed)
		}
	}

	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, fmt.Errorf("create psbt: %w", err)
	}
	for i, u := range selected {
		pkt.Inputs[i].WitnessUtxo = wire.NewTxOut(u.Value, bytes.Clone(u.PkScript))
		pkt.Inputs[i].SighashType = txscript.SigHashDefault
	}
	// BIP-371 PSBT_IN_TAP_INTERNAL_KEY of each input's key (and PSBT_IN_TAP_MERKLE_ROOT when its
	// address has a recovery leaf); PSBT_OUT_TAP_INTERNAL_KEY (and PSBT_OUT_TAP_TREE) marks the
	// change output as the wallet's.
	w.annotate(pkt, spend.ChangeIndex)
	spend.Packet = pkt
	return spend, nil
}
