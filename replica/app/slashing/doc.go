// Package slashing is Ethereum validator slashing protection for the
// replicated state machine: it decides whether a validator key may sign a
// block or an attestation given what it signed before, records what it
// signs, and reads and writes the EIP-3076 interchange format.
//
// The package is pure: no I/O, clock, logging or goroutines, and every
// decision is a function of the state and the request alone, so that every
// replica applying the same ordered requests decides the same and keeps the
// same bytes ([History.MarshalBinary]).
//
// # State
//
// A [History] is one validator key on one chain (pubkey and
// genesis_validators_root). It keeps, sorted, the most recent block records
// (slot, optional signing root) and attestation records (source and target
// epochs, optional signing root), at most [Policy.Keep] of each, and
// watermarks: recording beyond Keep folds the lowest record into them (the
// block watermark takes its slot, the attestation watermarks the highest
// source and the highest target folded). Folding only ever refuses more, so
// the state stays bounded without weakening the protection. [Minimal] keeps
// one record of each kind — EIP-3076's minimal database: the highest slot,
// the highest source and target, plus the signing roots needed to allow an
// exact re-sign of the last block or attestation signed here.
//
// # Rules
//
// [History.CheckBlock] refuses a block (a [*Conflict] naming the record or
// watermark):
//
//   - at the slot of a record, unless the record holds the same signing
//     root (a re-sign of the identical block; consensus-specs phase0
//     process_proposer_slashing slashes two different headers at one slot);
//   - at or below the block watermark, or below the lowest block kept
//     (EIP-3076 condition 2: "refuse to sign any block with slot <=
//     min(b.slot for b in data.signed_blocks ...), except if it is a repeat
//     signing as determined by the signing_root").
//
// Under [Minimal] the lowest block kept is the highest signed, so a block
// at or below the highest slot is refused but for the exact re-sign.
//
// [History.CheckAttestation] refuses an attestation:
//
//   - whose source epoch exceeds its target epoch;
//   - at the target of a record, unless it is the only record there and has
//     the same source and signing root (a re-sign): a double vote,
//     consensus-specs phase0 is_slashable_attestation_data, "data_1 !=
//     data_2 and data_1.target.epoch == data_2.target.epoch";
//   - that surrounds a record or is surrounded by one:
//     is_slashable_attestation_data, "data_1.source.epoch <
//     data_2.source.epoch and data_2.target.epoch < data_1.target.epoch",
//     both ways round;
//   - whose source is below the source watermark or the lowest source kept
//     (EIP-3076 condition 4), or whose target is at or below the target
//     watermark or the lowest target kept (EIP-3076 condition 5).
//
// [History.RecordBlock] and [History.RecordAttestation] apply the same
// check and, if it allows the signing, record it, in one step: the state
// machine calls them in its ordered execution and signs only on nil.
//
// # Interchange
//
// [DB.Import] merges an EIP-3076 (format version 5) file into the state,
// all or nothing; it refuses a malformed file ([ErrMalformed]) and a file
// of another chain ([ErrGenesisMismatch]). Records are added to those
// kept — the union EIP-3076 describes, so the lower bounds are the minima
// over everything kept, not over the last file only — and then folded to
// Keep. Slashable data in a file (a double vote, a surround, source above
// target) is kept, not refused: EIP-3076 lets an importer either refuse it
// or work around it, and keeping it only makes later checks refuse more.
// Under [Policy.Minify] each validator of the file is first reduced to its
// watermarks without signing roots (EIP-3076's minimal import, the
// interchange tests' "minification"), so a re-sign of imported data is
// refused.
//
// [DB.Export] writes ExportComplete (every record kept, with its signing
// root, and each watermark as a record without one) or ExportMinimal (per
// validator the highest slot, and the highest source and target as one
// attestation, without signing roots).
//
// # Minimal-mode caveats
//
//   - A minimal history cannot tell a block below the highest slot that was
//     never signed from one that was: it refuses both. The interchange tests
//     mark such cases with should_succeed false and should_succeed_complete
//     true; a larger Keep allows them while the records are kept.
//   - The minimal attestation (highest source, highest target) may never
//     have been signed as such and may have source > target; it is a
//     watermark, not evidence.
//   - A re-sign is allowed only when the signing root is known; imported
//     records under Minify, merged records that disagree, and watermarks
//     have none.
//   - The other way round, a complete policy allows signing in a gap
//     between two imports (slots 41 to 49 after importing slot 40, then
//     slot 50), as the interchange tests' should_succeed_complete expect
//     (multiple_interchanges_single_validator_single_message_gap), although
//     EIP-3076's "Advice for Complete Databases" calls signing in such a
//     gap unsafe. [Minimal] refuses it; it is the policy for the
//     replicated state machine, where a false refusal costs a missed duty
//     and a false allowance a slashing.
//
// # Conformance
//
// The tests run every case of eth-clients/slashing-protection-interchange-
// tests kept in testdata (and those of the directory VHSM_INTERCHANGE_TESTS
// names) twice: under [Minimal] against should_succeed and under
// Complete(MaxKeep) against should_succeed_complete.
package slashing
