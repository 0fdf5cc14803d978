// Package frost implements FROST, the two-round threshold Schnorr signature
// protocol of Komlo and Goldberg (SAC 2020) as standardised in RFC 9591,
// over secp256k1 with SHA-256, in two ciphersuites:
//
//   - [Taproot], "FROST-secp256k1-SHA256-TR-v1", exactly the ZcashFoundation
//     frost-secp256k1-tr crate: 64-byte BIP-340 signatures, valid under the
//     untweaked key or under its BIP-341 output key;
//   - [RFC9591], "FROST-secp256k1-SHA256-v1", RFC 9591 §6.5 FROST(secp256k1,
//     SHA-256): 65-byte signatures, compressed R ‖ z.
//
// The package is pure: no I/O, clock, logging or goroutines; randomness
// arrives as an io.Reader. It computes; keeping a nonce to one use, choosing
// the signers and carrying commitments and shares is the caller's job.
//
// # Protocol
//
// Signers hold Shamir shares x_i of the group secret x (P = x·G) with
// verification keys X_i = x_i·G, from a DKG (threshold/dkg) or a dealer;
// identifiers are 1..[MaxID]. A session has two rounds (RFC 9591 §5):
//
//	// Round one (RFC 9591 §5.1 commit), signer i, before the message is known:
//	nonce, err := frost.Taproot.NewNonce(x_i, rand.Reader) // keep secret, use once
//	commitment := nonce.Commit(i)                         // send to the coordinator
//
//	// The coordinator picks ≥ t+1 signers and the message:
//	pkg := &frost.SigningPackage{Commitments: commitments, Message: msg}
//
//	// Round two (RFC 9591 §5.2 sign), signer i:
//	key, err := frost.Taproot.NewKey(P, schnorr.Taproot{Mode: schnorr.TaprootBIP86}) // once per key
//	z_i, err := frost.Taproot.Sign(pkg, key, i, x_i, nonce)
//	nonce.Wipe()
//
//	// Coordinator (RFC 9591 §5.3 aggregate, §5.4 verify_signature_share):
//	session, err := frost.Taproot.Prepare(pkg, key)
//	sig, err := session.Aggregate(shares)
//	if !frost.Taproot.Verify(key, msg, sig) { /* session.VerifyShare(i, X_i, z_i) names the culprit */ }
//
// Step by step, with L the commitment list sorted by identifier:
//
//  1. Nonces (§4.1 nonce_generate): d_i = H3(rand₃₂ ‖ SerializeScalar(x_i)),
//     e_i likewise with fresh bytes; D_i = d_i·G, E_i = e_i·G ([Suite.NewNonce],
//     [Suite.NonceFromRandomness], [Nonce.Commit]).
//  2. Binding factors (§4.3, §4.4): ρ_i = H1(enc(PK) ‖ H4(m) ‖ H5(Σ
//     SerializeScalar(j) ‖ D_j ‖ E_j) ‖ SerializeScalar(i)).
//  3. Group commitment (§4.5): R = Σ_j D_j + ρ_j·E_j.
//  4. Challenge (§4.6): c = H2(enc(R) ‖ enc(PK) ‖ m).
//  5. Share (§5.2): z_i = d_i + ρ_i·e_i + λ_i·x_i·c, λ_i the Lagrange
//     coefficient at 0 over L's identifiers (§4.2).
//  6. Share check (§5.4): z_i·G == D_i + ρ_i·E_i + λ_i·c·X_i.
//  7. Signature (§5.3): (R, z = Σ z_i), and z·G == R + c·PK.
//
// A [Session] ([Suite.Prepare]) computes steps 2–4 once per package, so
// that checking every share of a session costs one multi-scalar
// multiplication each; [Suite.Sign], [Suite.VerifyShare] and
// [Suite.Aggregate] are Prepare followed by the Session method. Every
// multiplication whose inputs are all public (R, share checks, signature
// verification) is variable time (group.MultiMulPublic); the nonce
// commitments d·G, e·G are constant time (group.Group.BaseMul), and the
// share computation is scalar arithmetic only.
//
// # The RFC9591 suite
//
// RFC 9591 §6.5: H1, H3 are hash_to_field (RFC 9380 §5.2, expand_message_xmd
// with SHA-256, L = 48, m = 1) with DST contextString ‖ "rho" and ‖ "nonce",
// H2 likewise with "chal", H4 and H5 are SHA-256(contextString ‖ "msg" ‖ m)
// and "com"; points are 33-byte compressed SEC 1, scalars 32-byte big
// endian; enc(PK) = SerializeElement(P) of either parity. Only
// TaprootNone is a valid key option.
//
// # The Taproot suite: what frost-secp256k1-tr does
//
// Read from the crate's src/lib.rs (ZcashFoundation/frost, frost-secp256k1-tr,
// and frost-core round2.rs) and confirmed by reproducing every value of its
// test vectors (testdata/zf-frost-secp256k1-tr-vectors.json, an even-Y key
// without tweak). Odd-Y keys and tweaks, which those vectors lack, are pinned
// share by share by testdata/zf-tr-tweak-vectors.json, made by an
// independent Python model of the crate's steps (gen_tr_tweak_vectors.py),
// covering all eight parity combinations of P, Q and R; every signature is
// also checked with btcec's BIP-340 verifier:
//
//   - H1, H3, H4, H5 are RFC 9591's with contextString
//     "FROST-secp256k1-SHA256-TR-v1"; the vectors' nonces and binding
//     factors match only with this context string.
//   - H2 is the BIP-340 tagged hash: c = int(hash_BIP0340/challenge(bytes(R)
//     ‖ bytes(Q) ‖ m)) mod n over x-only encodings (BIP-340 Sign step 7).
//   - Key parity (BIP-340 Sign step 3): the key package is converted to
//     even Y before signing (pre_sign, into_even_y): if P has odd Y, every
//     x_i and X_i is negated.
//   - Tweak (BIP-341 taproot_tweak_pubkey / _seckey): t = int(hash_TapTweak(
//     bytes(P) ‖ root)); KeyPackage::tweak adds t to every (even-Y) share
//     and t·G to every verification share, so Q = lift_x(P) + t·G, and
//     pre_sign's into_even_y then negates all of them if Q has odd Y. Each
//     share thus carries λ_i·c·σ_Q·t and the aggregate needs no tweak
//     term (Σ λ_i = 1). round2::sign applies no tweak (the vectors: their
//     signature verifies under bytes(P), not under a BIP-86 key);
//     sign_with_tweak(merkle_root) does, and post_dkg applies tweak(None)
//     (BIP-86) to every DKG key. Here the tweak is the [Suite.NewKey]
//     option: TaprootNone, TaprootBIP86 (= tweak(None)) or TaprootScript
//     (= tweak(Some(root))).
//   - enc(PK) in the binding factors is the compressed encoding of the
//     effective key after into_even_y, so always 0x02 ‖ bytes(Q) (or
//     bytes(P)); with an odd-Y P this differs from RFC 9591's encoding.
//   - Nonce parity (BIP-340 Sign step 6): if R has odd Y, each signer
//     negates d_i + ρ_i·e_i (compute_signature_share), and share
//     verification negates D_i + ρ_i·E_i (verify_share).
//   - The signature is bytes(R) ‖ z, 64 bytes; Verify is BIP-340 Verify
//     under bytes(Q) (schnorr.Verify), which btcec's verifier agrees with.
//
// So with σ_P, σ_Q, σ_R = −1 for odd Y and +1 otherwise:
//
//	z_i = σ_R·(d_i + ρ_i·e_i) + λ_i·c·σ_Q·(σ_P·x_i + t)
//	z_i·G == σ_R·(D_i + ρ_i·E_i) + λ_i·c·σ_Q·(σ_P·X_i + t·G).
//
// # Derived keys
//
// [Suite.NewDerivedKey] prepares the key P' = P + δ·G for a public scalar
// δ, such as the accumulated tweak of an unhardened BIP-32 child
// (chains/bitcoin/hd). Every signer adds δ to its share first, x_i' = x_i +
// δ, a Shamir share of x + δ since the Lagrange coefficients of any signer
// set sum to 1; verification keys become X_i + δ·G. Then everything above
// applies to P' unchanged: its parity, its BIP-341 tweak, its output key:
//
//	z_i = σ_R·(d_i + ρ_i·e_i) + λ_i·c·σ_Q·(σ_P'·(x_i + δ) + t)
//
// The signers hold nothing new: δ and P' are functions of public data.
//
// # Security
//
// Each [Nonce] must sign at most one package: two shares with one nonce on
// different packages give two equations in (d_i + ρ·e_i, x_i) with
// different ρ or c and reveal x_i. [Nonce.Wipe] it after Sign. The signer
// checks that the package carries its own commitment (ErrCommitmentMismatch);
// the other signers' commitments need no check, since lying about them
// only makes the signature invalid. The binding factor hashes the whole
// commitment list and the message, which is what defeats the ROS and
// Drijvers et al. attacks on concurrent sessions (threshold/README.md,
// "FROST off the log"). FROST is not robust: a signer that withholds or
// corrupts its share aborts the session, and the coordinator retries with
// other signers and fresh nonces (ROAST, Ruffing et al., CCS 2022).
//
// # References
//
//   - RFC 9591, "The Flexible Round-Optimized Schnorr Threshold (FROST)
//     Protocol for Two-Round Schnorr Signatures", 2024.
//   - C. Komlo, I. Goldberg, "FROST: Flexible Round-Optimized Schnorr
//     Threshold Signatures", SAC 2020.
//   - M. Bellare, E. Tessaro, C. Zhu, "Stronger Security for Non-Interactive
//     Threshold Signatures: BLS and FROST", 2022.
//   - BIP-340 (Schnorr Signatures for secp256k1), BIP-341 (Taproot), BIP-86.
//   - ZcashFoundation/frost, frost-secp256k1-tr (src/lib.rs) and frost-core
//     (round2.rs), the reference for the Taproot suite.
//   - RFC 9380 (expand_message_xmd, hash_to_field).
package frost
