// Package client is the client side of vhsm: it signs a request with the
// client's Ed25519 key, sends it to the replicas concurrently over HTTPS
// (each replica's certificate pinned; no system roots) — t+1 of them first
// for signing, encryption, decryption and key generation, the others as a
// hedge (2t+1 first for BLS signatures and encryptions, and for block
// proposals and attestations, which travel ordered in eth2.batch requests:
// batch_eth2.go; key generations in flight together travel in
// keys.gen.batch requests); every replica at once for reads and other
// ordered requests —, verifies every
// replica's partial result against public data from the DKG, combines the
// first t+1 valid partials, verifies the combined result, and names the
// replicas that answered wrongly.
//
// # Trust
//
// Public data a result is checked against (a key's Feldman commitment, a
// Schnorr nonce's commitment) is accepted only when t+1 replicas report
// identical bytes: at most t replicas are faulty, so such a value was
// reported by an honest one. A partial is accepted only if it verifies
// against the verification key evaluated from that commitment; a replica
// whose partial fails, or whose public data differs, is a [Culprit].
//
// # Errors
//
// Fewer than t+1 valid answers before the deadline yields a [*QuorumError]
// (errors.Is [ErrNoQuorum]) saying how many replicas answered and naming
// culprits; t+1 identical rejections, once too few replicas remain to
// answer validly, yield a [*RejectedError]
// (errors.Is [ErrRejected]). Successful operations that had to discard
// wrong answers report them through [WithCulpritHandler].
//
// A key generation or Schnorr signature refused by t+1 replicas because
// the pool it needs is empty ("pool empty, retry later") is retried as a
// new request, with backoff, until the replicas' background refill has
// caught up or the pool wait ([WithPoolWait], default the request timeout)
// is over; only then is the [*RejectedError] returned.
//
// # Adapters
//
// [Client.SignTaproot] fits the Bitcoin chain's signer, and
// [Client.EthSigner] returns a value whose SignBLS fits the Ethereum chain's
// signer (it signs a 32-byte signing root) and whose SignTyped signs a
// typed request with a validator key.
//
// # Validator keys
//
// [Client.GenerateValidatorKey] and [Client.MarkValidatorKey] make bls keys
// that sign typed Ethereum remote-signing requests only
// ([Client.SignEth2]): the replicas compute each signing root themselves,
// order block proposals and attestations through the log's slashing
// protection (a refusal wraps [ErrSlashable]) and refuse raw signing.
// [Client.ImportSlashingProtection] and [Client.ExportSlashingProtection]
// move that protection in and out as EIP-3076 interchange files.
package client
