// Package app is the deterministic ABCI 2.0 application of a vhsm replica: the
// replicated HSM state (clients, keys, DKG sessions and their transcripts,
// pre-generated key and nonce pools, nonce assignments, the request log) and
// the rules that change it, driven by CometBFT through CheckTx, FinalizeBlock
// and Commit.
//
// # State and persistence
//
// The state is a sorted key/value map persisted in one bbolt bucket. During a
// block, FinalizeBlock stages every write in memory; Commit writes the staged
// set together with the block height and app hash in a single bbolt
// transaction, so a crash leaves the state of the last committed block and
// CometBFT replays the rest (Info reports the last height and app hash).
//
// # App hash
//
// The app hash after block h is
//
//	AppHash_h = SHA-256("vhsm/apphash/v1" ‖ AppHash_{h-1} ‖ SHA-256(W_h))
//
// where W_h is the block's staged writes sorted by key, each encoded as
// len(key) ‖ key ‖ flag ‖ len(value) ‖ value (lengths as 4-byte big-endian
// integers, flag 1 for a put and 0 for a delete). A block without writes keeps
// the previous hash. InitChain seeds AppHash_0 from the genesis writes the
// same way.
//
// The hash reported to CometBFT (FinalizeBlock, InitChain, Info) is a
// checkpoint of AppHash: it is updated at the first block whose time is at
// least one second after the previous checkpoint's, and repeated in
// between. With create_empty_blocks=false CometBFT follows every block whose
// reported hash changed with an extra empty block, which a client sending
// requests back to back would otherwise wait for at every request. Every
// replica derives the same checkpoints from the block times, so a replica
// whose state diverged is still caught, at the next checkpoint instead of
// the next block (a deliberate trade-off, documented in docs/SECURITY.md);
// results are final at FinalizeBlock either way. The checkpoint is persisted
// with each Commit, so Info reports it after a restart.
//
// # Requests
//
// Client transactions are [wire.Tx] envelopes holding a [wire.SignedRequest].
// A request is rejected in CheckTx (against local time) and again in
// FinalizeBlock (against block time) when its signature fails, its client is
// unknown, it is expired or too far in the future, its (client, id) was seen
// before, or its client is not authorized. Every validly signed, unexpired
// request is recorded under (client, id) with its [Result] until it expires;
// engines read the result of a committed request with [App.Result] and
// [App.WaitResult]. These answer as soon as FinalizeBlock has executed the
// request's block, before its Commit: CometBFT calls FinalizeBlock only for
// a decided block it has already stored, and a crash before the Commit
// replays that block to the same results. The other read methods see
// committed state only; [App.AwaitCommit] waits for the block whose results
// were answered early. Replica transactions carry DKG messages
// ([DKGPayload]) signed by a genesis replica key ([SignReplicaTx]), in a
// binary envelope (envelope.go; the JSON envelope of older logs is still
// decoded): the Ed25519 signature covers
//
//	wire.ReplicaTxContext ‖ uint32(len(cluster)) ‖ cluster ‖ uint32(replica) ‖ uint32(len(kind)) ‖ kind ‖ payload
//
// (integers big-endian), and the DKG message's sender must be the signer.
// Every message taken stays in the session's transcript, so the app takes
// only what the session can use: a message for an open session, no longer
// than the session's parameters allow, and not a second dealing, response
// or timeout vote for a phase from the same replica, nor a message for
// another phase (dkglimit.go). CheckTx and FinalizeBlock refuse the others
// without storing them.
//
// # Pools
//
// The app opens batched DKG sessions deterministically: at genesis one per
// pool kind ([KindSchnorr], [KindBLS], [KindSymmetric], [KindNonce]), and
// after any block in which a kind's available items fall below its low
// watermark while no session of that kind is open. A session that completes
// adds one [PoolItem] per batch slot; keys.gen takes the next available item
// of its scheme and a schnorr sign takes the next nonce, binding it to the
// request in the log. No secret ever enters this state.
//
// # Validator keys and slashing protection
//
// A bls key marked [wire.UsageEth2Validator] (keys.gen with a usage, or the
// one-way keys.validator) signs typed Ethereum requests only (eth2.go): the
// engines refuse raw signing with it. A block proposal or an attestation
// (eth2.sign of a slashable type, parsed by replica/eth2) is ordered: here
// it is checked against, and recorded in, the slashing history of (genesis
// validators root, pubkey), stored under "slash/" ‖ gvr ‖ pubkey
// (replica/app/slashing, policy slashing.Minimal); the committed [Result]
// names the signing root the engines may sign ([Eth2Signed]), or the
// conflicting record ([ErrSlashable]). An eth2.batch carries several of
// them of one client as one transaction: its items are decided in order,
// each as an eth2.sign of its own, each item's result ([Result.Items])
// binding the item's hash and recorded under the item's id (single-use).
// eth2.slashing.import and
// eth2.slashing.export move the histories in and out as EIP-3076 files
// (admin only; the export is carried in the result).
//
// # Repair
//
// A done session still accepts, in replica transactions of kind
// [RepairKind] ([SignRepairTx]), the late complaint of a replica that could
// not derive its shares from a qualified dealer and the reveals that repair
// it (threshold/dkg, "Repair of a late replica"). They never change the
// session's result or its pool items; applied ones form the session's
// repair transcript ([App.RepairTranscript]), and [App.Repairing] lists the
// sessions whose exposed dealers wait for reveals. The revealed values are
// the exposed (provably cheating) dealer's shares only.
package app
