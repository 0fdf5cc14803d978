// Package faulttest holds fault-tolerance tests of vhsm on real clusters:
// n = 4 replicas (f = 1), each a separate `vhsm replica` OS process talking
// over loopback, driven through [github.com/vhsm/vhsm/replica/cluster].
//
// # Scenarios
//
//   - TestOneReplicaKilledUnderLoad: SIGKILL of one replica under load; every
//     request completes.
//   - TestTwoReplicasDown: f+1 replicas down; requests fail with a clear
//     quorum timeout, nothing wrong is returned, and service resumes.
//   - TestFullClusterKill: SIGKILL of every replica during key generation and
//     signing; no key lost, no duplicate key ids, no Schnorr R reused.
//   - TestDamagedShareStore: a replica whose sealed store is deleted or
//     corrupted refuses to serve; the cluster keeps serving.
//   - TestRawRequestRejections: replayed, expired, re-signed and oversized
//     raw requests are rejected and change nothing.
//   - TestNoGrantNoAccess: a client without a grant can neither use, list nor
//     decrypt under another client's key.
//
// TestSigLogDetectsReuse checks, without a cluster, that the nonce-reuse
// detector catches two messages signed with one nonce.
//
// Every signature the tests obtain is checked with an independent verifier:
// btcec's BIP-340 implementation for Schnorr, supranational/blst for BLS.
// The package has no non-test code besides this comment.
package faulttest
