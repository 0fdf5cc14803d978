// Package dise implements DiSE threshold authenticated symmetric encryption
// (Agrawal, Mohassel, Mukherjee, Rindal, "DiSE: Distributed Symmetric-key
// Encryption", ACM CCS 2018, ePrint 2018/727) over a DDH-based distributed
// PRF on BLS12-381 G1. A key shared among n replicas by the DKG encrypts and
// decrypts only when t+1 replicas take part; t replicas can neither decrypt
// nor produce a valid ciphertext.
//
// # The DPRF
//
// The PRF is that of Naor, Pinkas and Reingold (Eurocrypt 1999) in the
// hash-then-exponentiate form of RFC 9497's OPRFs:
//
//	f_k(x) = H2(x, k·H1(x))
//
// with H1 the RFC 9380 hash to G1 (suite BLS12381G1_XMD:SHA-256_SSWU_RO_,
// DST "VHSM-DISE-V1-DPRF-BLS12381G1_XMD:SHA-256_SSWU_RO_") and H2 SHA-256
// under its own prefix. Replica i holds k_i = f(i) of a degree-t sharing of k
// and its verification key K_i = k_i·G is public from the DKG commitments.
// [Evaluate] returns Y_i = k_i·H1(x) with a Chaum–Pedersen proof that
// log_G(K_i) = log_{H1(x)}(Y_i), made non-interactive by Fiat–Shamir over
// the whole statement (replica index, input — which names the key —, G,
// H1(x), K_i, Y_i and the commitments). [CombineEvaluations] verifies every
// evaluation ([VerifyEvaluation]) and interpolates t+1 valid ones in the
// exponent, k·H1(x) = Σ λ_i·Y_i; invalid ones are reported by replica in a
// [CulpritError].
//
// H1 must be a hash to the curve: the thesis this system replaces mapped x
// to x·G, so that k·(x·G) = x·(k·G) could be computed by anyone from the
// public key, and every mask was public. With H1 a random oracle to G1, the
// output is pseudorandom under DDH in G1 (NPR 1999; Boneh–Lynn–Shacham
// style random-oracle argument), and the public key does not help.
//
// # Encryption
//
// DiSE's construction (Fig. "DiSE" of the paper; see DESIGN.md) turns the
// DPRF into threshold authenticated encryption. Encryptor j with message m:
//
//  1. [PrepareEncrypt]: draw ρ (32 bytes), commit α = SHA-256(dst ‖ |m| ‖ m ‖ ρ);
//     the DPRF input is x = (version, key id, j, α) ([Input]).
//  2. The replicas evaluate on x; the encryptor combines to w = f_k(x).
//  3. [FinishEncrypt]: ciphertext = x ‖ (AES-256-CTR_w ⊕ (ρ ‖ m)).
//
// Decryption: [ParseCiphertext] returns x, the replicas evaluate it, and
// [FinishDecrypt] strips the key stream and accepts only if SHA-256(dst ‖
// |m| ‖ m ‖ ρ) = α (constant-time comparison).
//
// # Security
//
// Privacy: w is pseudorandom to anyone with at most t shares who has not
// obtained t+1 evaluations on x, so the body is a one-time pad under a
// pseudorandom key. Authenticity: a ciphertext determines its DPRF input,
// and the input commits to (m, ρ) through α, so one interaction with the
// honest replicas yields w for exactly one (m, ρ) — the reason DiSE feeds
// the commitment, not a random nonce, to the DPRF. Binding the encryptor j
// into x lets replicas refuse to evaluate for a requester that is not j
// (encryption) or not authorised to decrypt, and binding the key id
// prevents using evaluations of one key for another. Robustness: a replica
// returning a wrong Y_i cannot pass the DLEQ proof (soundness of
// Chaum–Pedersen), since K_i comes from the DKG commitments and not from
// the replica. Without proofs, a wrong Y_i among 2t+1 evaluations with at
// most t faulty senders makes them inconsistent ([CombineConsistent]), and
// a wrong output of a decryption fails the commitment check
// ([CombineUnchecked]).
//
// What this package leaves to its caller: the authorisation check before
// [Evaluate] (the key in x is the share's key; the requester may act as
// encryptor j or decrypt), and confidentiality of evaluations in transit
// (t+1 of them give w).
//
// # References
//
//   - S. Agrawal, P. Mohassel, P. Mukherjee, P. Rindal, "DiSE: Distributed
//     Symmetric-key Encryption", CCS 2018.
//   - M. Naor, B. Pinkas, O. Reingold, "Distributed Pseudo-random Functions
//     and KDCs", Eurocrypt 1999.
//   - D. Chaum, T. Pedersen, "Wallet Databases with Observers", CRYPTO 1992.
//   - RFC 9380, "Hashing to Elliptic Curves"; RFC 9497, "Oblivious
//     Pseudorandom Functions (OPRFs) Using Prime-Order Groups".
package dise
