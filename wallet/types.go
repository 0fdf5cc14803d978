package wallet

import (
	"errors"
	"time"
)

// Wallet kinds.
const (
	KindBitcoin   = "bitcoin"   // a Taproot (BIP-86) account on one threshold Schnorr key
	KindValidator = "validator" // an Ethereum validator on one threshold BLS key
)

// Transaction states, in the order a send goes through them. A transaction
// never goes back; failed is terminal.
const (
	StatusBuilt     = "built"     // built (and reviewed), not signed: a PSBT or a dry run
	StatusSigned    = "signed"    // signed by the HSM, not yet accepted by the backend
	StatusBroadcast = "broadcast" // accepted by the backend, unconfirmed
	StatusConfirmed = "confirmed" // at least one confirmation
	StatusFailed    = "failed"    // refused by the backend, expired or dropped; its inputs are released
	// StatusReplaced: a broadcast send whose fee was bumped (Service.Bump);
	// the node accepted the replacement (ReplacedBy), which holds its inputs.
	StatusReplaced = "replaced"
)

// Token scopes. Each scope includes the ones before it: spend can read,
// admin can spend.
const (
	ScopeRead  = "read"
	ScopeSpend = "spend"
	ScopeAdmin = "admin"
)

// Sentinel errors. Every error the service returns for bad input or a
// refused operation wraps one of these (errors.Is), carries a message fit
// for an API client, and never contains a key, share, token or plaintext.
var (
	ErrInvalid      = errors.New("wallet: invalid request")     // a field is malformed or out of range
	ErrNotFound     = errors.New("wallet: not found")           // no such wallet, validator, transaction or token
	ErrConflict     = errors.New("wallet: conflict")            // idempotency key reused with a different request, label taken, ...
	ErrInsufficient = errors.New("wallet: insufficient funds")  // spendable (unlocked, mature) UTXOs do not cover amount + fee
	ErrUnavailable  = errors.New("wallet: backend unavailable") // HSM quorum or chain backend unreachable; retry later
	ErrRejected     = errors.New("wallet: rejected by backend") // the chain backend or the HSM refused the request
	ErrUnauthorized = errors.New("wallet: unauthorized")        // unknown, revoked or expired token
	ErrForbidden    = errors.New("wallet: insufficient scope")  // the token lacks the scope
	ErrUnsupported  = errors.New("wallet: unsupported")         // e.g. a Bitcoin operation on a validator wallet
)

// Wallet is a Bitcoin account or an Ethereum validator.
type Wallet struct {
	ID        string    `json:"id"`         // "w_" + 24 hex characters, random
	Kind      string    `json:"kind"`       // KindBitcoin or KindValidator
	Network   string    `json:"network"`    // bitcoin: mainnet|testnet3|testnet4|signet|regtest; validator: an Ethereum network name
	KeyID     string    `json:"key_id"`     // the HSM key
	PublicKey string    `json:"public_key"` // hex: x-only group key (32 bytes) or BLS public key (48 bytes)
	Address   string    `json:"address,omitempty"`
	Label     string    `json:"label"` // stored DiSE-encrypted
	CreatedAt time.Time `json:"created_at"`
	Recovery  *Recovery `json:"recovery,omitempty"` // the recovery path, if the wallet has one
}

// CreateWalletRequest creates a wallet; the DKG runs through the HSM.
// A retry with the same IdempotencyKey returns the first wallet.
type CreateWalletRequest struct {
	Kind    string `json:"kind"`
	Network string `json:"network"`
	Label   string `json:"label"`
	// Recovery optionally adds a timelocked recovery path (recovery.go).
	Recovery       *RecoveryRequest `json:"recovery,omitempty"`
	IdempotencyKey string           `json:"-"`
}

// Balance of a Bitcoin wallet, in satoshi.
type Balance struct {
	Confirmed   int64 `json:"confirmed"`   // in blocks, spendable (mature, not locked)
	Unconfirmed int64 `json:"unconfirmed"` // in the mempool, incoming
	Locked      int64 `json:"locked"`      // reserved by a pending send
	Immature    int64 `json:"immature"`    // coinbase outputs not yet mature
	Total       int64 `json:"total"`       // sum of the above
}

// UTXO is one output the wallet can spend (or will once confirmed or
// released).
type UTXO struct {
	TxID          string `json:"txid"`
	Vout          uint32 `json:"vout"`
	Value         int64  `json:"value"` // satoshi
	Confirmations int64  `json:"confirmations"`
	Coinbase      bool   `json:"coinbase"`
	Locked        bool   `json:"locked"` // reserved by a pending send
	LockedBy      string `json:"locked_by,omitempty"`
}

// Output pays Amount satoshi to Address.
type Output struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount"`
}

// SendRequest asks for a Bitcoin transaction. Exactly one of Outputs
// (with positive amounts) or SendMax with one output whose Amount is 0.
type SendRequest struct {
	Outputs        []Output `json:"outputs"`
	SendMax        bool     `json:"send_max,omitempty"`
	FeeRate        int64    `json:"fee_rate,omitempty"` // sat/vB; 0 asks the backend for an estimate
	DryRun         bool     `json:"dry_run,omitempty"`  // build and review only; nothing is locked or signed
	Note           string   `json:"note,omitempty"`     // stored DiSE-encrypted
	IdempotencyKey string   `json:"-"`

	// AcceptHighFee lets a send (or BuildPSBT) go on although the review
	// flags its fee (Transaction.HighFee); without it that is ErrHighFee.
	AcceptHighFee bool `json:"accept_high_fee,omitempty"`
}

// Transaction is a send (or a received payment seen in history).
type Transaction struct {
	ID            string    `json:"id"` // "tx_" + 24 hex characters
	WalletID      string    `json:"wallet_id"`
	TxID          string    `json:"txid,omitempty"` // known once built
	Status        string    `json:"status"`
	Direction     string    `json:"direction"` // "out" or "in"
	Outputs       []Output  `json:"outputs"`
	Amount        int64     `json:"amount"` // satoshi leaving (out) or arriving (in), excluding change
	Fee           int64     `json:"fee"`
	FeeRate       int64     `json:"fee_rate"` // sat/vB actually paid, rounded down
	VSize         int64     `json:"vsize"`
	Change        int64     `json:"change"`
	Inputs        int       `json:"inputs"`
	Confirmations int64     `json:"confirmations"`
	BlockHeight   int64     `json:"block_height,omitempty"`
	Note          string    `json:"note,omitempty"`
	PSBT          string    `json:"psbt,omitempty"`        // base64; unsigned while built, signed once SignPSBT signed it
	RawTx         string    `json:"raw_tx,omitempty"`      // hex; once signed
	Error         string    `json:"error,omitempty"`       // why it failed
	Replaces      string    `json:"replaces,omitempty"`    // a fee bump: the id of the transaction it replaces
	ReplacedBy    string    `json:"replaced_by,omitempty"` // status replaced: the id of the replacement
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	// HighFee is set when the fee is above Config.HighFeeShare of Amount
	// or above Config.HighFeeCap; FeeWarning says which. A send then needs
	// AcceptHighFee.
	HighFee    bool   `json:"high_fee,omitempty"`
	FeeWarning string `json:"fee_warning,omitempty"`
	// SignedInputs lists the inputs SignPSBT signed (this wallet's); the
	// others were left untouched. RawTx is set only when every input is
	// signed (the transaction is complete). PSBT is then the signed PSBT
	// (BIP-371 tap_key_sig on this wallet's inputs, not finalized).
	SignedInputs []int `json:"signed_inputs,omitempty"`
}

// SignPSBTRequest signs a PSBT built by BuildPSBT (or imported): every
// input must spend this wallet's key-path output.
type SignPSBTRequest struct {
	PSBT           string `json:"psbt"` // base64
	Broadcast      bool   `json:"broadcast"`
	IdempotencyKey string `json:"-"`

	// AcceptHighFee lets the signing go on although the review flags the
	// PSBT's fee (Transaction.HighFee).
	AcceptHighFee bool `json:"accept_high_fee,omitempty"`
}

// Validator is an Ethereum validator wallet: its threshold BLS key and the
// withdrawal settings used for its deposits.
type Validator struct {
	Wallet
	WithdrawalAddress string `json:"withdrawal_address,omitempty"` // 0x… execution address (0x01/0x02 credentials)
	Compounding       bool   `json:"compounding"`                  // 0x02 credentials
	ValidatorIndex    *int64 `json:"validator_index,omitempty"`    // once an admin recorded it (SetValidatorIndex)
}

// CreateValidatorRequest creates a validator wallet.
type CreateValidatorRequest struct {
	Network           string `json:"network"`
	Label             string `json:"label"`
	WithdrawalAddress string `json:"withdrawal_address"`
	Compounding       bool   `json:"compounding,omitempty"`
	IdempotencyKey    string `json:"-"`
}

// DepositDataRequest asks for a signed deposit (deposit_data JSON entry).
type DepositDataRequest struct {
	AmountGwei uint64 `json:"amount_gwei"` // default 32 ETH
}

// ExitRequest asks for a signed voluntary exit.
type ExitRequest struct {
	ValidatorIndex uint64 `json:"validator_index"`
	Epoch          uint64 `json:"epoch"`
}

// Token is an API token's public record. The secret is shown once, at
// creation, and stored only as a hash.
type Token struct {
	ID        string     `json:"id"` // "tok_" + 16 hex characters
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}
