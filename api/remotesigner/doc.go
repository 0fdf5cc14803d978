// Package remotesigner serves the Ethereum remote-signing API v1.1.0
// (ethereum/remote-signing-api; the API Web3Signer implements) so that
// validator clients (Lighthouse, Teku, Prysm, Nimbus, Lodestar) can sign
// through vhsm:
//
//	GET  /upcheck                         200 "OK" (text/plain; Web3Signer's health check)
//	GET  /api/v1/eth2/publicKeys          200 ["0x…48-byte BLS public key", …]
//	POST /api/v1/eth2/sign/{identifier}   200 {"signature":"0x…"} or, for Accept: text/plain, the hex
//
// Sign bodies are checked with eth2.Parse (400 on any malformed body or
// unknown type, with a message naming the field) and, when they carry a
// signingRoot, against the root computed from their content (400 on a
// mismatch). The Signer does the signing (the replicas recompute the root and
// enforce slashing protection): ErrUnknownKey → 404, ErrSlashable → 412,
// anything else → 500 with a generic message. Error bodies are
// {"code":…, "message":…}.
//
// Transport: plain HTTP only on a loopback address. Anywhere else Listen
// requires TLS with client certificates: a certificate is accepted when its
// SHA-256 fingerprint is pinned in the access file or when it chains to the
// configured client CA (and, with an access file, its common name is mapped).
// The access file maps each client to the validator keys it may use;
// publicKeys lists only those and signing with another key answers 404, as
// for an unknown key.
package remotesigner
