// Package eth2 decodes Ethereum remote-signing requests (the remote-signing
// API v1.1.0 request bodies, ethereum/remote-signing-api) and computes their
// signing roots the way consensus-specs does: compute_signing_root(object,
// domain), with the domain chosen per request type and fork from the request's
// fork_info. It is pure (stdlib and SHA-256 only, no I/O) so that every
// replica computes the same root from the same body and slashing protection
// can be enforced on the typed request rather than on a caller-chosen root.
//
// Parse is strict: unknown and missing fields, wrong hex lengths, malformed
// numbers, duplicate keys and unknown types are refused. Object keys are read
// in snake_case; camelCase spellings (previousVersion, signingRoot, ...) are
// accepted as aliases because the specification's own examples use them.
// Unsigned integers are decimal strings (a bare JSON integer is accepted too).
//
// Request types: every type of the specification (AGGREGATION_SLOT,
// AGGREGATE_AND_PROOF, ATTESTATION, BLOCK (deprecated, phase0), BLOCK_V2 for
// PHASE0 … FULU with a full block or a block header, DEPOSIT, RANDAO_REVEAL,
// VOLUNTARY_EXIT, SYNC_COMMITTEE_MESSAGE, SYNC_COMMITTEE_SELECTION_PROOF,
// SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF, VALIDATOR_REGISTRATION), plus
// AGGREGATE_AND_PROOF_V2 ({version, data}, as Web3Signer accepts it for
// Electra aggregates) and vhsm's BLS_TO_EXECUTION_CHANGE:
//
//	{"type": "BLS_TO_EXECUTION_CHANGE",
//	 "fork_info": {...},                 // for genesis_validators_root
//	 "genesis_fork_version": "0x00000000",
//	 "bls_to_execution_change": {"validator_index": "1",
//	   "from_bls_pubkey": "0x…48 bytes", "to_execution_address": "0x…20 bytes"}}
//
// Domains: blocks DOMAIN_BEACON_PROPOSER at the slot's epoch; attestations
// DOMAIN_BEACON_ATTESTER at the target epoch; RANDAO at its epoch; selection
// proofs, aggregates, sync committee messages, selection proofs and
// contributions at their slot's epoch — all through get_domain's fork choice
// (previous_version before fork.epoch, else current_version) and the request's
// genesis_validators_root. VOLUNTARY_EXIT follows EIP-7044: on a built-in
// network (mainnet, holesky, hoodi, sepolia; recognised by its
// genesis_validators_root) whose fork_info is at Deneb or later, the Capella
// fork version; elsewhere get_domain at the exit's epoch. DEPOSIT:
// compute_domain(DOMAIN_DEPOSIT, deposit.genesis_fork_version, zero root).
// VALIDATOR_REGISTRATION: compute_domain(DOMAIN_APPLICATION_BUILDER,
// genesis fork version, zero root), where the genesis fork version is the
// optional top-level genesis_fork_version (vhsm extension) or mainnet's
// 0x00000000. BLS_TO_EXECUTION_CHANGE: compute_domain(
// DOMAIN_BLS_TO_EXECUTION_CHANGE, genesis_fork_version,
// genesis_validators_root).
//
// Full blocks are hashed with the mainnet preset (SLOTS_PER_EPOCH 32 and the
// mainnet list limits). A body's optional signingRoot is checked against the
// computed root (ErrRootMismatch), never trusted.
package eth2
