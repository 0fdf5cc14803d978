// Package schnorr implements BIP-340 Schnorr signature verification and the
// BIP-341 Taproot key-path tweak over secp256k1: the public side of the
// ordinary Bitcoin signatures that the replicas produce with threshold
// signing. Signing itself is FROST, in threshold/frost, which takes its
// Taproot option ([Taproot]) and tweak ([TapTweak]) from this package.
//
// The package is pure: no I/O, clock, logging or goroutines.
//
// # Verification
//
// [Verify] is BIP-340 Verify for messages of any length (BIP-340 "Messages
// of arbitrary size"; btcec's verifier accepts only 32-byte messages), each
// step quoted from the BIP where it happens. It is checked against every
// BIP-340 test vector and, on fuzzed inputs, against btcec's verifier.
//
// # Taproot
//
// A signature verifies either under the x-only group key bytes(P)
// ([TaprootNone]) or under a BIP-341 output key. With [TaprootBIP86], or
// [TaprootScript] with a merkle root, the output key is
// Q = lift_x(x(P)) + τ·G with τ = int(hash_TapTweak(bytes(P) ‖ root))
// (BIP-341 taproot_tweak_pubkey, BIP-86 for the empty root), computed by
// [TapTweak] and [OutputKey]; OutputKey also returns the parity of Q, the
// bit a BIP-341 control block carries. The signer's side (d' = x or n − x
// for even Y of P, then d' + τ, negated if Q has odd Y) is in threshold/frost
// as public sign flips and a public additive tweak of the shares.
//
// # History
//
// Until FROST replaced it, this package also signed: threshold BIP-340 with
// nonce pairs dealt jointly by the DKG and bound to one message by the
// replicated log. That API is gone. TestROSForgeryWithPredictableNonces keeps
// the reason nonces must be bound to the message: with single pre-dealt
// nonces, known before the message is chosen, a requester forges a signature
// from 256 honest ones (Benhamouda, Lepoint, Loss, Orrù, Raykova, "On the
// (in)security of ROS", EUROCRYPT 2021); threshold/frost's
// TestROSFailsAgainstFROST runs the same attack against FROST, where it
// fails.
//
// # References
//
//   - BIP-340: Schnorr Signatures for secp256k1.
//   - BIP-341: Taproot: SegWit version 1 spending rules (taproot_tweak_pubkey,
//     taproot_tweak_seckey).
//   - BIP-86: Key Derivation for Single Key P2TR Outputs.
//   - C. Komlo, I. Goldberg, "FROST: Flexible Round-Optimized Schnorr
//     Threshold Signatures", SAC 2020; RFC 9591, "The Flexible
//     Round-Optimized Schnorr Threshold (FROST) Protocol for Two-Round
//     Schnorr Signatures", 2024.
//   - F. Benhamouda, T. Lepoint, J. Loss, M. Orrù, M. Raykova, "On the
//     (in)security of ROS", EUROCRYPT 2021.
package schnorr
