// Package bls implements threshold BLS signatures for Ethereum: the group key
// is a BLS12-381 G1 public key produced by the DKG, and t+1 of n replicas
// jointly produce a signature in G2 that any Ethereum consensus client
// accepts, while t replicas learn nothing about the key.
//
// # Ciphersuite
//
// Signatures follow the IETF BLS signature draft
// (draft-irtf-cfrg-bls-signature-05) with the ciphersuite the Ethereum
// consensus specs use, BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_: public
// keys in G1 (48-byte compressed), signatures in G2 (96-byte compressed),
// messages hashed to G2 with RFC 9380 hash_to_curve. Arithmetic, hashing and
// pairings are herumi's bls-eth-go-binary in Ethereum mode, initialised by
// [group.InitBLS], except partial signing ([PartialSign]), which is
// supranational/blst's constant-time signing (the same bytes, ~30% less
// time); [Verify] follows the consensus specs' Verify, so
// identity keys and signatures and non-subgroup points are rejected.
//
// # Protocol
//
// The secret key x is shared with a degree-t polynomial f by the DKG
// (threshold/dkg): replica i holds x_i = f(i), and the Feldman commitments
// give everyone the group key X = f(0)·G and each replica's verification key
// X_i = f(i)·G. This is the threshold scheme of Boldyreva (PKC 2003,
// "Threshold signatures, multisignatures and blind signatures based on the
// Gap-Diffie-Hellman-group signature scheme", §5):
//
//   - [PartialSign]: replica i returns σ_i = x_i·H(m).
//   - [VerifyPartial]: σ_i is checked with the pairing equation
//     e(G, σ_i) = e(X_i, H(m)) — the ordinary BLS verification under X_i.
//   - [Combine]: the first t+1 valid partials (set S) are interpolated in
//     the exponent, σ = Σ_{i∈S} λ_i·σ_i = f(0)·H(m), with λ_i the Lagrange
//     coefficients at zero (vss.LagrangeCoefficient), and σ is verified
//     against X before it is returned.
//
// # Security
//
// Unforgeability reduces to that of BLS (co-CDH in the random oracle model):
// t shares are uniformly random and independent of x, and a simulator can
// produce the corrupted replicas' view. Robustness comes from the partial
// verification: a partial that passes e(G, σ_i) = e(X_i, H(m)) equals
// x_i·H(m), because G2 has prime order, so any t+1 verified partials
// interpolate to the unique signature; a wrong partial is detected and its
// replica named in a [CulpritError]. This depends on X_i coming from the DKG
// commitments: the thesis this system replaces trusted keys the replicas
// claimed, letting a replica choose its key so that the combined value is
// wrong. BLS signatures are deterministic, so a replica that signs a message
// twice reveals nothing new. Rogue-key attacks on aggregation are a concern
// of the Ethereum proof of possession, not of this package: the group key is
// a single ordinary public key.
//
// # References
//
//   - A. Boldyreva, PKC 2003 (above).
//   - D. Boneh, S. Gorbunov, R. Wahby, H. Wee, C. Wood, Z. Zhang, "BLS
//     Signatures", draft-irtf-cfrg-bls-signature-05.
//   - Ethereum consensus specs, phase0 beacon-chain.md, "BLS signatures".
//   - RFC 9380, "Hashing to Elliptic Curves".
package bls
