// Package dkg is a Joint-Feldman distributed key generation (Pedersen 1991;
// Gennaro, Jarecki, Krawczyk, Rabin 2007) run over a consensus-ordered
// broadcast channel: the CometBFT log of the vhsm replicas. It produces, for a
// batch of Batch independent keys at once, a public group key and Feldman
// commitment per key, and for every replica a Shamir share of each key that
// no party ever saw whole.
//
// # Protocol
//
// The N replicas (N = 3F+1, polynomials of degree T = F by default) are
// indexed 1..N and each hold a long-term secp256k1 key pair (sk_j, PK_j).
//
//  1. Dealing ([NewDealing]). Dealer i samples Batch random polynomials
//     f_i,b of degree T in the target group (secp256k1 or BLS12-381 G1) and
//     posts one [Dealing] transaction: the Feldman commitments
//     C_i,b,k = a_i,b,k·G (Feldman 1987), a fresh ephemeral secp256k1 key
//     E_i = e_i·G with a proof of knowledge of e_i, and for every recipient j
//     the Batch shares f_i,b(j) encrypted as shares ⊕ HKDF-SHA256(K_ij, ...)
//     with K_ij = e_i·PK_j = sk_j·E_i. No MAC is needed: the commitments
//     authenticate the plaintext.
//  2. Responding ([RespondTo], [Session.Respond]). Once the dealing phase is
//     closed in the log, every replica j decrypts its shares off-chain and
//     checks them against the commitments (GJKR Fig. 2, step 1(b)), all Batch
//     slots of all the closed dealings at once with a random linear
//     combination whose 128-bit coefficients are a hash of every dealing and
//     the recipient (a small-exponents batch test, Bellare–Garay–Rabin
//     1998): one constant-time base multiplication for the secret side and
//     one [group.MultiMulPublic] for the public one, instead of one of each
//     per share; only when it fails are the dealings checked one by one (each
//     with its own combination), then the slots, to name the bad dealers and
//     slots. For every dealer whose shares fail it reveals K_ij with a DLEQ
//     proof that log_G(PK_j) = log_{E_i}(K_ij), so that anyone can decrypt
//     and re-check exactly those shares (a provable complaint, as in ETHDKG,
//     Schindler et al. 2021). Every replica posts one [Response], possibly
//     empty.
//  3. Qualification ([Session]). A dealer is disqualified if its dealing is
//     malformed or a valid complaint against it exists; a complaint with a
//     failing proof, or whose revealed shares are in fact correct, names its
//     sender as a culprit instead. Q is the set of qualified dealers; the
//     group key of batch slot b is Σ_{i∈Q} C_i,b,0, its commitment
//     Σ_{i∈Q} C_i,b, and replica j's share Σ_{i∈Q} f_i,b(j)
//     ([Session.Shares]) (GJKR Fig. 2, steps 2–4).
//
// # Repair of a late replica
//
// The responding phase may close without a slow or restarting replica j,
// so a dealer i that sent j bad shares can stay qualified, and j cannot
// derive its shares. Once the session is done, j posts a [LateComplaint]
// (the same provable complaint, K_ij with a DLEQ proof); a valid one exposes
// i ([RepairExposed]) without changing Q, the group keys or the commitments,
// so keys and nonces already handed out stay valid. Every replica k holding
// valid shares from i then posts a [Reveal] of f_i,b(k) for all slots, in the
// clear, each checked against i's commitments (a wrong one names k). With
// T+1 valid reveals ([RepairComplete]) anyone interpolates f_i,b(j), and
// [Session.Shares] gives j its shares (see [Session.LateComplaints],
// [Session.Reveal]).
//
// Revealing is safe: a valid late complaint proves i faulty, and i knows its
// own polynomials; the secret of a slot is Σ_{q∈Q} f_q,b(0), and Q holds at
// least T+1 dealers, at most F = T of them faulty, so an honest dealer's
// polynomial stays in the sum and is never revealed (a late complaint
// against an honest dealer is false and exposes nobody). The reveals exist:
// the responding phase closed with at least N−F responses and none validly
// complained about i, so at least N−2F ≥ T+1 honest replicas hold valid
// shares from i. One late complaint per (complainer, dealer), only from a
// replica whose response is not in the transcript (an honest responder
// complained in time), and one reveal per (revealer, dealer) are applied,
// none once the dealer is repaired.
//
// # Determinism and the log
//
// A [Session] is a pure state machine fed the ordered transcript with
// [Session.Apply]: its state, result and culprits are a deterministic function
// of the sequence of messages, so every replica derives the same Q, group keys
// and verification keys. A Session has no clock: a phase closes when all N
// replicas have contributed, or when at least N−F have and at least F+1
// distinct replicas posted a [TimeoutVote] for the phase (so at least one
// honest replica's clock agrees it is time). With at most F silent or
// Byzantine replicas the protocol thus always terminates, and since
// T+1 ≤ N−2F at least T+1 honest dealers are qualified.
//
// Apply does no per-recipient decryption: it checks dealings publicly
// (structure, proof of knowledge of the ephemeral key) and verifies only
// complaints, so it is cheap enough for FinalizeBlock. It never panics on any
// input. A replica that restarts rebuilds its Session by calling [NewSession]
// with the same [Params] and re-applying the stored messages in their log
// order; the rebuilt state is identical.
//
// The sender index inside each message is trusted to have been authenticated
// by the caller (the ABCI application checks replica signatures); the Session
// only rejects indices out of range. [DecodeMessage] parses the canonical
// encoding of the five message kinds and exposes their [Kind] for routing.
//
// # Why Joint-Feldman
//
// Joint-Feldman lets a rushing adversary bias the distribution of the group
// public key (GJKR 2007, Section 3), which is why GJKR propose a Pedersen-VSS
// based DKG for applications that need a uniform key. The same authors show
// ("Secure Applications of Pedersen's Distributed Key Generation Protocol",
// CT-RSA 2003) that for threshold Schnorr signatures, whose security reduces
// to the hardness of the discrete logarithm with the key as the challenge,
// the Joint-Feldman output is good enough: a forger against keys from JF-DKG
// yields a forger against keys from a uniform generator, since the simulator
// can embed the challenge key through one honest dealer. The same embedding
// applies to the BLS and DiSE DPRF reductions used here, which also take the
// key as their challenge. We use the keys only for such schemes, so the
// simpler, one-round-of-dealing Joint-Feldman is acceptable.
//
// # Differences from the design brief
//
// Share encryption uses a fresh ephemeral key E_i per dealing instead of the
// dealer's long-term key: a provable complaint then reveals only the
// pairwise key of this one dealing, never the long-term Diffie-Hellman key
// shared by the two replicas (which would expose their channel in every past
// and future session), and an honest dealer that deals twice in a session
// (say after a crash) never reuses a keystream. The dealer proves knowledge of
// e_i, so a complaint never gives a cheating dealer a Diffie-Hellman oracle on
// the complainer's long-term key; the proof is bound to the dealer's index, so
// a cheating dealer cannot copy an honest dealer's E and turn the honest
// recipients' complaints into a reveal of their shares from that dealer.
// Every proof's Fiat–Shamir domain also binds the session ID and the group.
//
// # References
//
//   - P. Feldman, "A Practical Scheme for Non-interactive Verifiable Secret
//     Sharing", FOCS 1987.
//   - T. P. Pedersen, "A Threshold Cryptosystem without a Trusted Party",
//     EUROCRYPT 1991.
//   - R. Gennaro, S. Jarecki, H. Krawczyk, T. Rabin, "Secure Distributed Key
//     Generation for Discrete-Log Based Cryptosystems", J. Cryptology 20(1),
//     2007; "Secure Applications of Pedersen's Distributed Key Generation
//     Protocol", CT-RSA 2003.
//   - M. Bellare, J. Garay, T. Rabin, "Fast Batch Verification for Modular
//     Exponentiation and Digital Signatures", EUROCRYPT 1998 (the
//     small-exponents test used to check a batch of shares at once).
//   - P. Schindler, A. Judmayer, N. Stifter, E. Weippl, "ETHDKG: Distributed
//     Key Generation with Ethereum Smart Contracts", 2021 (provable
//     complaints by revealing the pairwise key with a DLEQ proof).
package dkg
