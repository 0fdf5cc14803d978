// Package api is the REST Crypto-Wallet API of vhsm: a go-chi router over
// the wallet service ([Wallets], implemented by *wallet.Service) and the
// threshold HSM client (raw key routes, readiness), documented by the
// OpenAPI 3.1 document [OpenAPI] served at GET /openapi.json. It does no
// cryptography itself.
//
// # Routes
//
// Wallets (Bitcoin Taproot accounts): POST/GET /v1/wallets, GET
// /v1/wallets/{id}, /address, /address/qr.png, /balance, /utxos, POST/GET
// /v1/wallets/{id}/transactions, GET /v1/wallets/{id}/transactions/{tx},
// POST /v1/wallets/{id}/psbt and /psbt/sign. Validators: POST/GET
// /v1/validators, GET /v1/validators/{id}, POST /v1/validators/{id}/deposit-data
// and /exit (POST /v1/validators with a count creates a batch and answers
// one deposit file for all; POST /v1/validators/exits signs exits for many
// validators and answers one JSON array of them). Slashing protection (admin, EIP-3076
// interchange of the replicated history): POST
// /v1/eth/slashing-protection/import and GET
// /v1/eth/slashing-protection/export, both with ?network=. Raw HSM: POST/GET /v1/keys, GET /v1/keys/{id}, POST
// /v1/keys/{id}/sign, /encrypt, /decrypt. Tokens: POST/GET /v1/tokens, DELETE
// /v1/tokens/{id}. Service: GET /healthz, /readyz, /metrics, /openapi.json.
// Everything else is handed to Config.Web (the web wallet) when set.
//
// # Authentication and scopes
//
// Every route but GET /healthz needs "Authorization: Bearer <token>"; a
// missing, unknown, revoked or expired token is 401 (with WWW-Authenticate),
// a token without the route's scope is 403. Scopes nest (read ⊂ spend ⊂
// admin): GET routes, /readyz, /metrics and /openapi.json need read; anything
// that creates a wallet, moves or reserves funds, or uses a key (sends,
// PSBTs, deposit data, exits, raw sign/encrypt/decrypt) needs spend; token
// management, slashing-protection import and export, and raw key creation
// need admin (a raw key is outside the
// wallet domain, so creating one is an operator action).
//
// # Errors
//
// Every error is an RFC 9457 application/problem+json document whose type is
// one of the stable URIs https://vhsm.dev/problems/{invalid-request,
// not-found, method-not-allowed, conflict, insufficient-funds, unsupported,
// rejected, unauthorized, forbidden, rate-limited, payload-too-large,
// unsupported-media-type, unavailable, internal}; validation failures list
// the fields in "errors". The wallet service's sentinel errors map to them in
// problemOf. Request bodies must be application/json, at most
// Config.MaxBodyBytes, with no unknown field and no trailing data.
//
// # Limits
//
// Each token has its own token bucket (Config.RateLimit); a refused request
// is 429 with Retry-After. Failed authentications are limited per client
// address the same way, so guessing tokens is slow and cheap to refuse. A
// panic in a handler is recovered into a 500 problem and logged (the fuzz
// test asserts there is none).
package api
