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
)

// codes maps sentinels to stable ABCI result codes.
var codes = []error{
	nil, ErrMalformed, ErrTooLarge, ErrBadSignature, ErrUnknownClient, ErrExpired, ErrTooFar,
	ErrReplay, ErrUnauthorized, ErrUnknownKey, ErrKeyExists, ErrKeyDisabled, ErrBadScheme, ErrBadOp,
	ErrBadBody, ErrPoolEmpty, ErrBadReplica, ErrUnknownSess, ErrDKG, ErrWrongCluster, ErrIDReused,
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
