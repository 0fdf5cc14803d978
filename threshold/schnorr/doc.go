// Package schnorr implements threshold BIP-340 Schnorr signatures with
// pre-dealt nonce pairs bound to the message (as in FROST and MuSig2), and
// the BIP-341 Taproot key-path tweak, so that n replicas holding Shamir
// shares of a key produce ordinary Bitcoin signatures that any BIP-340
// verifier accepts.
//
// The package is pure: no I/O, clock, logging or goroutines. It signs and
// verifies; distributing the key and nonce shares is the job of the DKG
// (threshold/dkg), and assigning each nonce pair to one message is the job of
// the replicated log (replica).
//
// # Setting
//
// Participants have indices 1..n, n = 3f+1, and polynomials have degree
// t = f. A DKG (Gennaro, Jarecki, Krawczyk, Rabin, "Secure Distributed Key
// Generation for Discrete-Log Based Cryptosystems", J. Cryptology 2007)
// gives replica i a share x_i of the secret x, and everyone the group key
// P = x·G and the verification keys X_i = x_i·G, all computed from the
// public Feldman commitments ([PublicKey]). A nonce pair is the output of
// the same DKG for two polynomials: replica i holds d_i and e_i
// ([NonceShares]), everyone knows D = d·G, E = e·G, D_i = d_i·G and
// E_i = e_i·G ([NoncePair]). Nonce pairs are dealt in advance, in batches.
//
// # Nonce pairs
//
// A pair yields the nonce of one signature once the key, the Taproot option
// and the message are fixed (FROST, Komlo and Goldberg, SAC 2020, and RFC
// 9591 §4.4–4.5 and §5.2; MuSig2, Nick, Ruffing and Seurin, CRYPTO 2021,
// with ν = 2 nonces). Everyone computes the binding factor
//
//	ρ = int(hash_VHSM/schnorr/binding(
//	        enc(bytes(Q)) ‖ enc(cbytes(D)) ‖ enc(cbytes(E)) ‖ enc(opt) ‖ enc(m))) mod n,
//
// with hash_tag the BIP-340 tagged hash, enc(x) the 8-byte big-endian length
// of x followed by x, bytes(Q) the 32-byte x-only output key ([OutputKey];
// see Signing), cbytes the 33-byte compressed SEC1 encoding, and opt the
// byte [Taproot.Mode] followed, for [TaprootScript] only, by the merkle root.
// ρ depends on public data only. The nonce is R = D + ρ·E with the
// per-replica commitments R_i = D_i + ρ·E_i ([NoncePair.Bind]), and replica
// i's nonce share is k_i = d_i + ρ·e_i ([NonceShares.Bind]), so k_i·G = R_i
// and the k_i are shares of k = d + ρ·e on a degree-t polynomial. From there
// signing is the single-nonce protocol below, unchanged:
//
//	// replica i, after the log assigned the pair to (key, tr, msg):
//	bound, err := pair.Bind(key, tr, msg)        // pair may omit commitments
//	k, err := shares.Bind(key, pair, tr, msg)
//	partial, err := schnorr.PartialSign(key, bound, tr, msg, x_i, k)
//
//	// combiner, with the pair's commitments:
//	bound, err := pair.Bind(key, tr, msg)
//	sig, err := schnorr.Combine(key, bound, tr, msg, partials)
//
// The single-nonce API ([PublicNonce], [PartialSign] with a pre-dealt
// nonce) remains as the layer underneath and for the BIP-340 test vectors;
// used directly with pre-dealt nonces it is open to the ROS attack (see
// Security).
//
// # Signing
//
// This section describes signing with one nonce k, R = k·G, R_i = k_i·G
// ([PublicNonce]); with a nonce pair, k is the bound nonce of
// [NoncePair.Bind] (the pair's secrets d and e are not the signing key d and
// challenge e of this section).
//
// Let d' be x if P has even Y, else n − x (BIP-340 Sign step 3; BIP-341
// taproot_tweak_seckey). Without Taproot the signing key is d = d' and the
// x-only key is bytes(P). With Taproot ([TaprootBIP86], or [TaprootScript]
// with a merkle root), the output key is Q = lift_x(P) + τ·G with
// τ = int(hash_TapTweak(bytes(P) ‖ root)) (BIP-341 taproot_tweak_pubkey,
// BIP-86 for the empty root), and the signing key is d = d' + τ if Q has
// even Y, else n − (d' + τ) ([OutputKey]). Let k be the nonce, negated if R
// has odd Y (BIP-340 Sign step 6), and e = int(hash_BIP0340/challenge(
// bytes(R) ‖ bytes(Q) ‖ m)) mod n for a message m of any length.
//
// Writing σ_P, σ_Q, σ_R ∈ {±1} for the three negations, replica i returns
// ([PartialSign])
//
//	s_i = σ_R·k_i + e·σ_Q·σ_P·x_i,
//
// a point on a degree-t polynomial whose value at 0 is k + e·(d − σ_Q·τ).
// Anyone can check it against public data ([VerifyPartial]):
//
//	s_i·G == σ_R·R_i + e·σ_Q·σ_P·X_i.
//
// The combiner ([Combine]) verifies the partials, interpolates t+1 valid
// ones at zero with Lagrange coefficients (threshold/vss), adds the tweak
// term e·σ_Q·τ once, and outputs (bytes(R), s), which it verifies with
// BIP-340 [Verify] before returning (BIP-340 Sign step 10). Combination is
// robust: any t+1 valid partials suffice, invalid ones are detected and their
// senders named in a [*CulpritError], and a wrong signature is never returned
// (Gennaro, Jarecki, Krawczyk, Rabin, "Robust Threshold DSS Signatures",
// EUROCRYPT 1996, use the same verify-then-interpolate structure; Stinson and
// Strobl, "Provably Secure Distributed Schnorr Signatures and a (t, n)
// Threshold Scheme for Implicit Certificates", ACISP 2001, is the threshold
// Schnorr scheme with a jointly generated nonce that this follows). Unlike
// FROST, no signer set is fixed in advance, so a silent or lying replica
// cannot abort signing while t+1 honest replicas answer.
//
// [Verify] is BIP-340 verification for messages of any length (btcec's
// verifier accepts only 32-byte messages).
//
// # Security
//
// Partial signatures reveal nothing beyond the final signature: all s_i lie
// on one degree-t polynomial whose value at 0 is fixed by the signature, so
// given the signature and the t partials of the corrupted replicas, the
// honest partials are the values of the unique polynomial through them, and
// a simulator holding the signature and the corrupted shares produces them (Stinson and Strobl
// §4; GJKR 2007 for the DKG of key and nonce). Any t shares of k or of x are
// uniformly distributed and reveal nothing.
//
// The scheme is secure only if every nonce (every nonce pair) signs exactly
// one message. If a
// replica signed two messages m ≠ m' with the same nonce share k_i, then
// s_i − s'_i = (e − e')·σ·x_i reveals its key share x_i (e ≠ e' except with
// negligible probability), and t+1 such replicas reveal x: nonce reuse is
// the classic way Schnorr and ECDSA keys leak. A pre-dealt nonce is safe to
// hold because k is never whole anywhere and nobody can use it alone: the
// replicated log assigns each nonce to exactly one (key, message, Taproot
// option) by a committed, totally ordered transaction before any replica
// signs with it, and a replica must persist that assignment and its use, and
// refuse to sign anything else with that nonce, across crashes and restarts.
// This package cannot enforce that; its callers must.
//
// Pre-dealing has a second, subtler requirement, the reason for nonce
// pairs. A single pre-dealt nonce R is public before the message is chosen.
// A requester who can see ℓ ≳ 256 unused R_j of one key and then choose
// which message each is used for can obtain ℓ signatures on harmless
// messages of its choice and combine them into a signature on a message
// that was never authorized: the ROS attack (Benhamouda, Lepoint, Loss,
// Orrù, Raykova, "On the (in)security of ROS", EUROCRYPT 2021; Drijvers et
// al., "On the Security of Two-Round Multi-Signatures", S&P 2019). Each
// nonce is still used once, so the rule above does not prevent it. The
// attack needs the nonce of every candidate message to be the same point, so
// that the forged nonce is a fixed linear combination of known nonces. With
// a pair, the nonce of message m is D + ρ(m)·E with ρ a hash of m, D, E, the
// key and the Taproot option: it changes unpredictably with every choice the
// requester makes, and no linear combination of the signatures it obtains
// has a nonce it could fix in advance. This is the two-nonce argument of
// MuSig2 (secure for ν = 2 under the algebraic one-more discrete logarithm
// assumption in the algebraic group model and random oracle model) and of
// FROST; here D and E are already joint (dealt by the DKG), so one ρ serves
// all replicas, as in MuSig2. Partials stay verifiable against public
// commitments and combination stays robust. Therefore: the protocol uses
// nonce pairs, and [PartialSign] with a single pre-dealt nonce is unsafe
// whenever the requester can choose messages after seeing R.
//
// A pair, like a single nonce, signs exactly one (key, message, Taproot
// option), assigned by the log as above. Signing a second message with a
// pair voids the security argument, and a third reveals the key share:
// replica i's partials s_i = d_i + ρ·e_i + c·x_i (up to the public
// negations) for three messages are three independent linear equations in
// d_i, e_i and x_i.
//
// # References
//
//   - BIP-340: Schnorr Signatures for secp256k1.
//   - BIP-341: Taproot: SegWit version 1 spending rules (taproot_tweak_pubkey,
//     taproot_tweak_seckey).
//   - BIP-86: Key Derivation for Single Key P2TR Outputs.
//   - R. Gennaro, S. Jarecki, H. Krawczyk, T. Rabin, "Secure Distributed Key
//     Generation for Discrete-Log Based Cryptosystems", J. Cryptology 20, 2007;
//     "Robust Threshold DSS Signatures", EUROCRYPT 1996.
//   - D. R. Stinson, R. Strobl, "Provably Secure Distributed Schnorr
//     Signatures and a (t, n) Threshold Scheme for Implicit Certificates",
//     ACISP 2001.
//   - C. Komlo, I. Goldberg, "FROST: Flexible Round-Optimized Schnorr
//     Threshold Signatures", SAC 2020; RFC 9591, "The Flexible
//     Round-Optimized Schnorr Threshold (FROST) Protocol for Two-Round
//     Schnorr Signatures", 2024.
//   - J. Nick, T. Ruffing, Y. Seurin, "MuSig2: Simple Two-Round Schnorr
//     Multi-Signatures", CRYPTO 2021.
//   - F. Benhamouda, T. Lepoint, J. Loss, M. Orrù, M. Raykova, "On the
//     (in)security of ROS", EUROCRYPT 2021.
package schnorr
