package slashing

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Sentinel errors.
var (
	// ErrSlashable is wrapped by every [*Conflict]: signing was refused.
	ErrSlashable = errors.New("slashing: refused, may be slashable")
	// ErrMalformed marks an interchange file or an encoded [History] that
	// does not parse or breaks the format's rules.
	ErrMalformed = errors.New("slashing: malformed data")
	// ErrGenesisMismatch marks an interchange file for another chain (its
	// genesis_validators_root differs from the expected one).
	ErrGenesisMismatch = errors.New("slashing: genesis_validators_root mismatch")
	// ErrPolicy marks an invalid [Policy].
	ErrPolicy = errors.New("slashing: invalid policy")
)

// Pubkey is a validator's compressed BLS public key (48 bytes). The package
// does not check that it is a curve point: it is only a name.
type Pubkey [48]byte

// Root is a 32-byte root: a signing root (consensus-specs
// compute_signing_root) or a genesis_validators_root.
type Root [32]byte

// SignedBlock is a block proposal record: the slot and, when known, the
// signing root that was signed. A nil SigningRoot (imported without one,
// or two imported roots that disagree) never matches a re-sign.
type SignedBlock struct {
	Slot        uint64
	SigningRoot *Root
}

// SignedAttestation is an attestation record: the source and target epochs
// and, when known, the signing root.
type SignedAttestation struct {
	Source      uint64
	Target      uint64
	SigningRoot *Root
}

// Kind says why a [Conflict] refused a signing.
type Kind uint8

const (
	// DoubleProposal: a block record at the same slot holds another (or an
	// unknown) signing root (consensus-specs phase0 process_proposer_slashing:
	// same slot, different headers).
	DoubleProposal Kind = iota + 1
	// BlockBelowWatermark: the slot is at or below the block watermark, or
	// below the lowest block kept (EIP-3076 condition 2).
	BlockBelowWatermark
	// SourceAboveTarget: the source epoch exceeds the target epoch.
	SourceAboveTarget
	// DoubleVote: an attestation record with the same target epoch differs
	// (is_slashable_attestation_data, double vote).
	DoubleVote
	// SurroundingVote: the new attestation surrounds a recorded one
	// (is_slashable_attestation_data, surround vote, new as data_1).
	SurroundingVote
	// SurroundedVote: a recorded attestation surrounds the new one
	// (is_slashable_attestation_data, surround vote, new as data_2).
	SurroundedVote
	// SourceBelowWatermark: the source epoch is below the source watermark
	// or the lowest source kept (EIP-3076 condition 4).
	SourceBelowWatermark
	// TargetBelowWatermark: the target epoch is at or below the target
	// watermark or the lowest target kept (EIP-3076 condition 5).
	TargetBelowWatermark
)

var kindNames = map[Kind]string{
	DoubleProposal:       "double proposal",
	BlockBelowWatermark:  "block slot not above the watermark",
	SourceAboveTarget:    "source epoch above target epoch",
	DoubleVote:           "double vote",
	SurroundingVote:      "surrounds a signed attestation",
	SurroundedVote:       "surrounded by a signed attestation",
	SourceBelowWatermark: "source epoch below the watermark",
	TargetBelowWatermark: "target epoch not above the watermark",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Conflict is the refusal of a signing. It names the record it conflicts
// with: Block for the block kinds when a record is at fault, Attestation
// for the attestation kinds when a record is at fault; otherwise
// Watermark holds the bound that refused it (a slot, a source or a target
// epoch). errors.Is(c, ErrSlashable) holds.
type Conflict struct {
	Kind        Kind
	Block       *SignedBlock
	Attestation *SignedAttestation
	Watermark   uint64
}

func (c *Conflict) Error() string {
	switch {
	case c.Block != nil:
		return fmt.Sprintf("slashing: refused: %s (signed block at slot %d%s)", c.Kind, c.Block.Slot, rootNote(c.Block.SigningRoot))
	case c.Attestation != nil:
		return fmt.Sprintf("slashing: refused: %s (signed attestation %d→%d%s)", c.Kind, c.Attestation.Source, c.Attestation.Target, rootNote(c.Attestation.SigningRoot))
	case c.Kind == SourceAboveTarget:
		return "slashing: refused: " + c.Kind.String()
	default:
		return fmt.Sprintf("slashing: refused: %s %d", c.Kind, c.Watermark)
	}
}

// Unwrap returns [ErrSlashable].
func (c *Conflict) Unwrap() error { return ErrSlashable }

func rootNote(r *Root) string {
	if r == nil {
		return ", signing root unknown"
	}
	return fmt.Sprintf(", signing root 0x%x", r[:])
}

// MaxKeep bounds [Policy.Keep] and the records of a decoded [History].
const MaxKeep = 1024

// Policy is how a [History] keeps records. Every replica must use the same
// Policy: it is part of the replicated state machine's rules.
type Policy struct {
	// Keep is how many block records and how many attestation records are
	// kept, 1 to [MaxKeep]. Recording beyond it folds the lowest records
	// into the watermarks, which only ever refuse more.
	Keep int
	// Minify reduces each imported validator to its watermarks without
	// signing roots (EIP-3076 "minimal" import): a re-sign of imported
	// data is refused, a re-sign of data recorded here is not.
	Minify bool
}

// Minimal is the EIP-3076 minimal strategy: the highest block and the
// highest attestation, plus watermarks. Its state has a fixed size.
var Minimal = Policy{Keep: 1, Minify: true}

// Complete returns the EIP-3076 complete strategy bounded to keep records
// per kind: imports keep every record (and signing root) up to that bound.
func Complete(keep int) Policy { return Policy{Keep: keep} }

// Validate reports, with [ErrPolicy], a Keep outside 1 to [MaxKeep].
func (p Policy) Validate() error {
	if p.Keep < 1 || p.Keep > MaxKeep {
		return fmt.Errorf("%w: keep %d not in [1, %d]", ErrPolicy, p.Keep, MaxKeep)
	}
	return nil
}

// History is the slashing-protection state of one validator on one chain
// (one pubkey and genesis_validators_root): the records kept, sorted, and
// the watermarks folded from records dropped. The zero History is empty.
// Its binary encoding ([History.MarshalBinary]) is canonical.
type History struct {
	hasBlockMark bool
	blockMark    uint64 // refuse slot ≤ blockMark
	blocks       []SignedBlock

	hasAttMark bool
	sourceMark uint64 // refuse source < sourceMark
	targetMark uint64 // refuse target ≤ targetMark
	atts       []SignedAttestation
}

// Blocks returns a copy of the block records kept, by increasing slot.
func (h *History) Blocks() []SignedBlock { return cloneBlocks(h.blocks) }

// Attestations returns a copy of the attestation records kept, by
// increasing target epoch.
func (h *History) Attestations() []SignedAttestation { return cloneAtts(h.atts) }

// BlockWatermark returns the slot at or below which every block is refused
// in addition to the records, if any.
func (h *History) BlockWatermark() (slot uint64, ok bool) { return h.blockMark, h.hasBlockMark }

// AttestationWatermark returns the source epoch below which, and the target
// epoch at or below which, every attestation is refused in addition to the
// records, if any.
func (h *History) AttestationWatermark() (source, target uint64, ok bool) {
	return h.sourceMark, h.targetMark, h.hasAttMark
}

// Clone returns a deep copy of h.
func (h *History) Clone() *History {
	c := *h
	c.blocks = cloneBlocks(h.blocks)
	c.atts = cloneAtts(h.atts)
	return &c
}

// CheckBlock decides whether a block at slot with signingRoot may be signed:
// nil, or a [*Conflict]. The rules, in order:
//
//  1. A record at the same slot: allowed only if it holds the same signing
//     root (a re-sign of the identical block); otherwise [DoubleProposal].
//  2. slot ≤ the block watermark, or slot < the lowest block kept:
//     [BlockBelowWatermark] (EIP-3076 condition 2).
func (h *History) CheckBlock(slot uint64, signingRoot Root) error {
	_, err := h.checkBlock(slot, signingRoot)
	return err
}

// checkBlock reports also whether the block is a re-sign.
func (h *History) checkBlock(slot uint64, root Root) (resign bool, err error) {
	i, found := slices.BinarySearchFunc(h.blocks, slot, func(b SignedBlock, s uint64) int { return cmpU64(b.Slot, s) })
	if found {
		b := h.blocks[i]
		if b.SigningRoot != nil && *b.SigningRoot == root {
			return true, nil
		}
		return false, &Conflict{Kind: DoubleProposal, Block: cloneBlock(b)}
	}
	if h.hasBlockMark && slot <= h.blockMark {
		return false, &Conflict{Kind: BlockBelowWatermark, Watermark: h.blockMark}
	}
	if len(h.blocks) > 0 && slot < h.blocks[0].Slot {
		return false, &Conflict{Kind: BlockBelowWatermark, Block: cloneBlock(h.blocks[0])}
	}
	return false, nil
}

// RecordBlock applies [History.CheckBlock] and, if it allows the block,
// records it under p: the check and the record are one step.
func (h *History) RecordBlock(p Policy, slot uint64, signingRoot Root) error {
	if err := p.Validate(); err != nil {
		return err
	}
	resign, err := h.checkBlock(slot, signingRoot)
	if err != nil || resign {
		return err
	}
	r := signingRoot
	h.mergeBlock(SignedBlock{Slot: slot, SigningRoot: &r})
	h.prune(p.Keep)
	return nil
}

// CheckAttestation decides whether an attestation with the given source and
// target epochs and signingRoot may be signed: nil, or a [*Conflict]. The
// rules, in order:
//
//  1. source > target: [SourceAboveTarget].
//  2. Records at the same target: allowed only if there is one and it is
//     identical (same source and signing root), a re-sign; otherwise
//     [DoubleVote].
//  3. consensus-specs phase0 is_slashable_attestation_data, surround vote,
//     against every record: [SurroundingVote] or [SurroundedVote].
//  4. source < the source watermark or the lowest source kept:
//     [SourceBelowWatermark] (EIP-3076 condition 4); target ≤ the target
//     watermark or the lowest target kept: [TargetBelowWatermark]
//     (EIP-3076 condition 5).
func (h *History) CheckAttestation(source, target uint64, signingRoot Root) error {
	_, err := h.checkAttestation(source, target, signingRoot)
	return err
}

func (h *History) checkAttestation(source, target uint64, root Root) (resign bool, err error) {
	if source > target {
		return false, &Conflict{Kind: SourceAboveTarget}
	}
	// Rule 2. is_slashable_attestation_data: "Double vote":
	// data_1 != data_2 and data_1.target.epoch == data_2.target.epoch.
	var same []SignedAttestation
	for _, a := range h.atts {
		if a.Target == target {
			same = append(same, a)
		}
	}
	if len(same) == 1 && same[0].Source == source && same[0].SigningRoot != nil && *same[0].SigningRoot == root {
		return true, nil
	}
	if len(same) > 0 {
		return false, &Conflict{Kind: DoubleVote, Attestation: cloneAtt(same[0])}
	}
	// Rule 3. is_slashable_attestation_data: "Surround vote":
	// data_1.source.epoch < data_2.source.epoch and
	// data_2.target.epoch < data_1.target.epoch.
	for _, a := range h.atts {
		if source < a.Source && a.Target < target {
			return false, &Conflict{Kind: SurroundingVote, Attestation: cloneAtt(a)}
		}
		if a.Source < source && target < a.Target {
			return false, &Conflict{Kind: SurroundedVote, Attestation: cloneAtt(a)}
		}
	}
	// Rule 4. EIP-3076 conditions 4 and 5, against the watermarks folded
	// from dropped records and the lowest records kept.
	if h.hasAttMark {
		if source < h.sourceMark {
			return false, &Conflict{Kind: SourceBelowWatermark, Watermark: h.sourceMark}
		}
		if target <= h.targetMark {
			return false, &Conflict{Kind: TargetBelowWatermark, Watermark: h.targetMark}
		}
	}
	if len(h.atts) > 0 {
		low := h.atts[0] // the record with the lowest source
		for _, a := range h.atts[1:] {
			if a.Source < low.Source {
				low = a
			}
		}
		if source < low.Source {
			return false, &Conflict{Kind: SourceBelowWatermark, Attestation: cloneAtt(low)}
		}
		if target <= h.atts[0].Target {
			return false, &Conflict{Kind: TargetBelowWatermark, Attestation: cloneAtt(h.atts[0])}
		}
	}
	return false, nil
}

// RecordAttestation applies [History.CheckAttestation] and, if it allows
// the attestation, records it under p: the check and the record are one
// step.
func (h *History) RecordAttestation(p Policy, source, target uint64, signingRoot Root) error {
	if err := p.Validate(); err != nil {
		return err
	}
	resign, err := h.checkAttestation(source, target, signingRoot)
	if err != nil || resign {
		return err
	}
	r := signingRoot
	h.mergeAtt(SignedAttestation{Source: source, Target: target, SigningRoot: &r})
	h.prune(p.Keep)
	return nil
}

// mergeBlock adds b to the records. Two records of one slot become one
// whose signing root is kept only if both agree on it.
func (h *History) mergeBlock(b SignedBlock) {
	i, found := slices.BinarySearchFunc(h.blocks, b.Slot, func(x SignedBlock, s uint64) int { return cmpU64(x.Slot, s) })
	if found {
		old := h.blocks[i].SigningRoot
		if old == nil || b.SigningRoot == nil || *old != *b.SigningRoot {
			h.blocks[i].SigningRoot = nil
		}
		return
	}
	h.blocks = slices.Insert(h.blocks, i, *cloneBlock(b))
}

// mergeAtt adds a to the records unless an identical record is kept.
func (h *History) mergeAtt(a SignedAttestation) {
	i, found := slices.BinarySearchFunc(h.atts, a, cmpAtt)
	if !found {
		h.atts = slices.Insert(h.atts, i, *cloneAtt(a))
	}
}

// prune folds the lowest records beyond keep into the watermarks.
func (h *History) prune(keep int) {
	for len(h.blocks) > keep {
		b := h.blocks[0]
		if !h.hasBlockMark || b.Slot > h.blockMark {
			h.blockMark, h.hasBlockMark = b.Slot, true
		}
		h.blocks = slices.Delete(h.blocks, 0, 1)
	}
	for len(h.atts) > keep {
		h.foldAtt(h.atts[0].Source, h.atts[0].Target)
		h.atts = slices.Delete(h.atts, 0, 1)
	}
}

func (h *History) foldAtt(source, target uint64) {
	if !h.hasAttMark {
		h.sourceMark, h.targetMark, h.hasAttMark = source, target, true
		return
	}
	h.sourceMark = max(h.sourceMark, source)
	h.targetMark = max(h.targetMark, target)
}

// cmpAtt orders attestation records by target, source, then signing root
// (unknown first).
func cmpAtt(a, b SignedAttestation) int {
	if c := cmpU64(a.Target, b.Target); c != 0 {
		return c
	}
	if c := cmpU64(a.Source, b.Source); c != 0 {
		return c
	}
	switch {
	case a.SigningRoot == nil && b.SigningRoot == nil:
		return 0
	case a.SigningRoot == nil:
		return -1
	case b.SigningRoot == nil:
		return 1
	}
	return bytes.Compare(a.SigningRoot[:], b.SigningRoot[:])
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cloneRoot(r *Root) *Root {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

func cloneBlock(b SignedBlock) *SignedBlock {
	return &SignedBlock{Slot: b.Slot, SigningRoot: cloneRoot(b.SigningRoot)}
}

func cloneAtt(a SignedAttestation) *SignedAttestation {
	return &SignedAttestation{Source: a.Source, Target: a.Target, SigningRoot: cloneRoot(a.SigningRoot)}
}

func cloneBlocks(bs []SignedBlock) []SignedBlock {
	out := make([]SignedBlock, len(bs))
	for i, b := range bs {
		out[i] = *cloneBlock(b)
	}
	return out
}

func cloneAtts(as []SignedAttestation) []SignedAttestation {
	out := make([]SignedAttestation, len(as))
	for i, a := range as {
		out[i] = *cloneAtt(a)
	}
	return out
}
