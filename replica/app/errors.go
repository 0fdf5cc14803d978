package app

import "errors"

// Sentinel errors. Rejections of a request carry one of them in [Result.Error]
// and a non-zero code (see codeOf).
var (
	ErrBadGenesis    = errors.New("app: invalid genesis")
	ErrMalformed     = errors.New("app: malformed transaction")
	ErrTooLarge      = errors.New("app: transaction too large")
	ErrBadSignature  = errors.New("app: bad signature")
	ErrUnknownClient = errors.New("app: unknown client")
	ErrExpired       = errors.New("app: request expired")
	ErrTooFar        = errors.New("app: request expiry too far in the future")
	ErrReplay        = errors.New("app: request already seen")
	ErrUnauthorized  = errors.New("app: unauthorized")
	ErrUnknownKey    = errors.New("app: unknown key")
	ErrKeyExists     = errors.New("app: key already exists")
	ErrKeyDisabled   = errors.New("app: key disabled")
	ErrBadScheme     = errors.New("app: bad scheme")
	ErrBadOp         = errors.New("app: unknown or unordered operation")
	ErrBadBody       = errors.New("app: invalid request body")
	ErrPoolEmpty     = errors.New("app: pool empty, retry later")
	ErrBadReplica    = errors.New("app: bad replica transaction")
	ErrUnknownSess   = errors.New("app: unknown or closed dkg session")
	ErrDKG           = errors.New("app: dkg message rejected")
	ErrWrongCluster  = errors.New("app: request is for another cluster")
	ErrIDReused      = errors.New("app: request id already used for another request")
	// ErrSlashable refuses a block proposal or an attestation that the
	// validator's slashing history says may be slashable; the error names
	// the conflicting record (replica/app/slashing.Conflict).
	ErrSlashable = errors.New("app: refused by slashing protection")
	// ErrValidatorKey refuses raw signing with a validator key, and typed
	// eth2 signing with a key that is not one.
	ErrValidatorKey = errors.New("app: validator key rule")
	// ErrEth2Request refuses a typed remote-signing request replica/eth2
	// cannot parse (malformed, unknown type, supplied root that differs).
	ErrEth2Request = errors.New("app: invalid eth2 signing request")
	// ErrInterchange refuses an EIP-3076 interchange file that does not
	// parse strictly.
	ErrInterchange = errors.New("app: invalid slashing-protection interchange")
)

// codes maps sentinels to stable ABCI result codes.
var codes = []error{
	nil, ErrMalformed, ErrTooLarge, ErrBadSignature, ErrUnknownClient, ErrExpired, ErrTooFar,
	ErrReplay, ErrUnauthorized, ErrUnknownKey, ErrKeyExists, ErrKeyDisabled, ErrBadScheme, ErrBadOp,
	ErrBadBody, ErrPoolEmpty, ErrBadReplica, ErrUnknownSess, ErrDKG, ErrWrongCluster, ErrIDReused,
	ErrSlashable, ErrValidatorKey, ErrEth2Request, ErrInterchange,
}

// codeOf returns the ABCI code of err (0 for nil, 255 when unclassified).
func codeOf(err error) uint32 {
	if err == nil {
		return 0
	}
	for i, s := range codes[1:] {
		if errors.Is(err, s) {
			return uint32(i + 1)
		}
	}
	return 255
}
