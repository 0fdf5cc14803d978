// Package hd derives the addresses of a threshold Taproot wallet with
// BIP-32 public derivation, so that one DKG key serves any number of
// receive and change addresses, and describes them as BIP-380/386 output
// descriptors for watch-only wallets.
//
// The package is pure: no I/O, clock, logging or goroutines. It never sees
// a share; everything here is computed from the group key P and public
// data.
//
// # The tree
//
// The root of the tree is the group key P of a DKG (33-byte compressed
// secp256k1, with its actual Y parity: serP(P), not the lift_x of its
// x-only form) with the chain code [ChainCode] derives from the key's
// committed public data. The root is serialised as a BIP-32 extended
// public key of depth 0, parent fingerprint 00000000 and child number 0,
// that is, as a BIP-32 master key: there is no private master key and no
// hardened path above it (hardened derivation needs the private key, which
// nobody holds). So the root's own fingerprint, HASH160(serP(P))[:4], is the
// "master fingerprint" of the key origin in descriptors ([Descriptor]).
// Addresses are the unhardened children 0/i (receive) and 1/i (change),
// BIP-44's change level without the hardened purpose/coin/account levels:
//
//	root = (P, c)              depth 0, [ExtendedKey] from [NewRoot]
//	root/0/i, root/1/i         depth 2, [ExtendedKey.Derive]
//
// Paths are written relative to the root, "0/17", and read by [ParsePath],
// which accepts only unhardened indices and one text per path.
//
// # CKDpub and the additive tweak
//
// BIP-32 "Public parent key → public child key", for i < 2^31:
//
//	I = HMAC-SHA512(Key = c_par, Data = serP(K_par) ‖ ser32(i))
//	K_i = K_par + parse256(I_L)·G,  c_i = I_R
//
// refusing (the key for i does not exist; take the next i) when
// parse256(I_L) ≥ n or K_i is the point at infinity ([ErrInvalidChild]).
// Each level adds a public scalar to the key, so a child at any depth is
// K = P + t·G with t the sum of the I_L of its path ([ExtendedKey.Tweak]).
// Its private key would be x + t: threshold signers holding shares x_i of x
// sign for K with shares x_i + t and nothing new (threshold/frost
// NewDerivedKey, threshold/README.md "Derived keys").
//
// # BIP-86 outputs
//
// Each child key K is a BIP-86 internal key: the output key is
// Q = lift_x(bytes(K)) + int(hash_TapTweak(bytes(K)))·G (BIP-341
// taproot_tweak_pubkey with an empty script tree) and the address the
// bech32m encoding of witness v1 bytes(Q) ([ExtendedKey.TaprootOutputKey],
// [ExtendedKey.Address]). This is what a BIP-86 wallet derives from
// tr(xpub/0/*).
//
// # Why a public chain code is enough
//
// BIP-32 keeps the chain code secret for two reasons. Privacy: whoever has
// the chain code and the parent key links all children; and the known
// weakness of unhardened derivation: whoever holds the extended public key
// and any one child private key computes the parent private key
// (x = x_i − t). The second does not apply here. No child private key
// exists anywhere: keys are only ever held as threshold shares, and a share
// of a child key is a share of the root shifted by the public t, so
// assembling a child private key takes more shares than the threshold,
// which already give the root key. What remains is privacy, exactly as for
// any xpub: whoever learns the chain code (or the xpub) can compute
// every address of the wallet and link them, but cannot spend. The chain
// code is therefore derived, not drawn: [ChainCode] is a tagged hash of the
// group key and its DKG commitment, so every replica computes the same value
// from committed data with no extra agreement step. The commitment holds
// the Feldman commitments a_k·G of random polynomials besides P, so someone
// who has seen only P, addresses or output keys cannot compute the chain
// code; someone who holds the commitment (the replicas, and every client
// that may read the key's information) can, and learns what an xpub tells:
// the wallet's address list, never funds.
//
// # Descriptors
//
// [Descriptor] returns tr([fp]xpub/0/*)#checksum and tr([fp]xpub/1/*)#checksum
// (BIP-386 tr(), BIP-380 key origin and checksum), the form Bitcoin Core's
// listdescriptors prints and importdescriptors accepts for a watch-only
// wallet. [DescriptorChecksum] is BIP-380's descsum_create; package
// chains/bitcoin uses it for its addr() descriptors.
//
// # References
//
//   - BIP-32 (Hierarchical Deterministic Wallets), BIP-44 (change level),
//     BIP-86 (Key Derivation for Single Key P2TR Outputs).
//   - BIP-340, BIP-341 (taproot_tweak_pubkey), BIP-350 (bech32m).
//   - BIP-380 (Output Script Descriptors: key origin, checksum), BIP-386
//     (tr() descriptors).
package hd
