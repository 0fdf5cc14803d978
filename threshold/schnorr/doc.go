// Package schnorr implements threshold BIP-340 Schnorr signatures with
// pre-dealt nonces, and the BIP-341 Taproot key-path tweak, so that n
// replicas holding Shamir shares of a key produce ordinary Bitcoin
// signatures that any BIP-340 verifier accepts.
//
// The package is pure: no I/O, clock, logging or goroutines. It signs and
// verifies; distributing the key and nonce shares is the job of the DKG
// (threshold/dkg), and binding a nonce to one message is the job of the
// replicated log (replica).
//
// # Setting
//
// Participants have indices 1..n, n = 3f+1, and polynomials have degree
// t = f. A DKG (Gennaro, Jarecki, Krawczyk, Rabin, "Secure Distributed Key
// Generation for Discrete-Log Based Cryptosystems", J. Cryptology 2007)
// gives replica i a share x_i of the secret x, and everyone the group key
// P = x·G and the verification keys X_i = x_i·G, all computed from the
// public Feldman commitments ([PublicKey]). A nonce is the output of the
// same DKG: replica i holds k_i, everyone knows R = k·G and R_i = k_i·G
// ([PublicNonce]). Nonces are dealt in advance, in batches.
//
// # Signing
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
// The scheme is secure only if every nonce signs exactly one message. If a
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
// Pre-dealing has a second, subtler requirement. R is public before the
// message is chosen. If a requester can see ℓ ≳ 256 unused R_j of one key
// and then choose which message each is used for (for example because the
// pool hands nonces out in a known order), it can obtain ℓ signatures on
// harmless messages of its choice and combine them into a signature on a
// message that was never authorized: the ROS attack (Benhamouda, Lepoint,
// Loss, Orrù, Raykova, "On the (in)security of ROS", EUROCRYPT 2021; Drijvers
// et al., "On the Security of Two-Round Multi-Signatures", S&P 2019), the
// reason FROST binds two nonces with a message-dependent factor. Each nonce
// is still used once, so the rule above does not prevent it. The requester
// must therefore not be able to choose a message after learning the nonce it
// will be signed with: the assignment of nonces to messages has to be
// unpredictable to the requester when the message is committed, or the
// scheme has to move to FROST-style binding (R = D + ρ·E with
// ρ = H(P, m, D, E), two pre-dealt nonces per signature), which keeps
// partials verifiable against public commitments and combination robust.
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
package schnorr
