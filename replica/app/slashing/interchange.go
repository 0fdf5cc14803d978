package slashing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// InterchangeVersion is the EIP-3076 interchange_format_version this
// package reads and writes.
const InterchangeVersion = "5"

// ExportMode selects what [DB.Export] writes.
type ExportMode uint8

const (
	// ExportComplete writes every record kept, with its signing root, and
	// each watermark as one more record without a signing root.
	ExportComplete ExportMode = iota + 1
	// ExportMinimal writes per validator one block (the highest slot) and
	// one attestation (the highest source and the highest target epochs),
	// without signing roots: EIP-3076's minimal form.
	ExportMinimal
)

// Validator names one history: a validator key on one chain.
type Validator struct {
	Pubkey                Pubkey
	GenesisValidatorsRoot Root
}

// DB holds the histories of many validators under one [Policy]. It is a
// plain value for tests, tools and imports: the replicated state machine
// may keep [History] values under its own keys instead. Make one with
// [NewDB]; a DB is not safe for concurrent use.
type DB struct {
	policy Policy
	m      map[Validator]*History
}

// NewDB returns an empty DB under p.
func NewDB(p Policy) (*DB, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &DB{policy: p, m: map[Validator]*History{}}, nil
}

// History returns a copy of v's history (empty if v has none).
func (db *DB) History(v Validator) *History {
	if h, ok := db.m[v]; ok {
		return h.Clone()
	}
	return new(History)
}

// SetHistory replaces v's history with a copy of h.
func (db *DB) SetHistory(v Validator, h *History) { db.m[v] = h.Clone() }

// Validators returns the validators with a history, sorted by genesis
// validators root then pubkey.
func (db *DB) Validators() []Validator {
	out := make([]Validator, 0, len(db.m))
	for v := range db.m {
		out = append(out, v)
	}
	slices.SortFunc(out, cmpValidator)
	return out
}

func cmpValidator(a, b Validator) int {
	if c := bytes.Compare(a.GenesisValidatorsRoot[:], b.GenesisValidatorsRoot[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.Pubkey[:], b.Pubkey[:])
}

func (db *DB) history(v Validator) *History {
	h, ok := db.m[v]
	if !ok {
		h = new(History)
		db.m[v] = h
	}
	return h
}

// peek returns v's history without copying it; never modify the result.
func (db *DB) peek(v Validator) *History {
	if h, ok := db.m[v]; ok {
		return h
	}
	return new(History)
}

// CheckBlock is [History.CheckBlock] for the validator pubkey on chain gvr.
func (db *DB) CheckBlock(pubkey Pubkey, gvr Root, slot uint64, signingRoot Root) error {
	return db.peek(Validator{pubkey, gvr}).CheckBlock(slot, signingRoot)
}

// RecordBlock is [History.RecordBlock] for the validator pubkey on chain gvr.
func (db *DB) RecordBlock(pubkey Pubkey, gvr Root, slot uint64, signingRoot Root) error {
	return db.history(Validator{pubkey, gvr}).RecordBlock(db.policy, slot, signingRoot)
}

// CheckAttestation is [History.CheckAttestation] for the validator pubkey on
// chain gvr.
func (db *DB) CheckAttestation(pubkey Pubkey, gvr Root, source, target uint64, signingRoot Root) error {
	return db.peek(Validator{pubkey, gvr}).CheckAttestation(source, target, signingRoot)
}

// RecordAttestation is [History.RecordAttestation] for the validator pubkey
// on chain gvr.
func (db *DB) RecordAttestation(pubkey Pubkey, gvr Root, source, target uint64, signingRoot Root) error {
	return db.history(Validator{pubkey, gvr}).RecordAttestation(db.policy, source, target, signingRoot)
}

// Import merges an EIP-3076 interchange file for the chain gvr into the DB,
// all or nothing. It refuses ([ErrMalformed]) a file that does not parse
// strictly (unknown fields, trailing data, numbers that are not canonical
// decimal strings of a uint64, hex of the wrong length), a version other
// than [InterchangeVersion], and ([ErrGenesisMismatch]) a file whose
// genesis_validators_root is not gvr.
//
// The merge follows EIP-3076: records of one validator (the file may name
// it more than once) are added to the records kept; a slot recorded with
// two different signing roots keeps none; under [Policy.Minify] each
// validator's file records are first reduced to its highest slot and its
// highest source and target epochs, without signing roots. Slashable data
// in the file is kept, not refused: it only makes later checks refuse more.
func (db *DB) Import(gvr Root, data []byte) error {
	f, err := ParseInterchange(data)
	if err != nil {
		return err
	}
	if f.GenesisValidatorsRoot != gvr {
		return fmt.Errorf("%w: file 0x%x, chain 0x%x", ErrGenesisMismatch, f.GenesisValidatorsRoot[:], gvr[:])
	}
	staged := map[Validator]*History{}
	for _, e := range f.Data {
		v := Validator{e.Pubkey, gvr}
		h, ok := staged[v]
		if !ok {
			h = db.History(v)
			staged[v] = h
		}
		if err := h.Merge(db.policy, e); err != nil {
			return err
		}
	}
	for v, h := range staged {
		db.m[v] = h
	}
	return nil
}

// Merge adds the records of one interchange entry to h under p, as
// [DB.Import] does for each entry: under [Policy.Minify] the entry is first
// reduced to its watermarks without signing roots; records are added (a
// slot recorded with two different signing roots keeps none) and then
// folded to p.Keep. The entry's pubkey is not checked: the caller chose h
// for it.
func (h *History) Merge(p Policy, e InterchangeEntry) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Minify {
		e = minify(e)
	}
	for _, b := range e.SignedBlocks {
		h.mergeBlock(b)
	}
	for _, a := range e.SignedAttestations {
		h.mergeAtt(a)
	}
	h.prune(p.Keep)
	return nil
}

// minify reduces e to EIP-3076's minimal form: the highest slot, and the
// highest source and highest target epochs as one attestation (which may
// never have been signed as such, and may have source > target), all
// without signing roots.
func minify(e InterchangeEntry) InterchangeEntry {
	out := InterchangeEntry{Pubkey: e.Pubkey}
	if len(e.SignedBlocks) > 0 {
		var top uint64
		for _, b := range e.SignedBlocks {
			top = max(top, b.Slot)
		}
		out.SignedBlocks = []SignedBlock{{Slot: top}}
	}
	if len(e.SignedAttestations) > 0 {
		var s, t uint64
		for _, a := range e.SignedAttestations {
			s, t = max(s, a.Source), max(t, a.Target)
		}
		out.SignedAttestations = []SignedAttestation{{Source: s, Target: t}}
	}
	return out
}

// Export writes the histories of chain gvr as an EIP-3076 interchange file,
// validators sorted by pubkey. The output is deterministic.
func (db *DB) Export(gvr Root, mode ExportMode) ([]byte, error) {
	if mode != ExportComplete && mode != ExportMinimal {
		return nil, fmt.Errorf("slashing: unknown export mode %d", mode)
	}
	f := Interchange{GenesisValidatorsRoot: gvr, Data: []InterchangeEntry{}}
	for _, v := range db.Validators() {
		if v.GenesisValidatorsRoot != gvr {
			continue
		}
		f.Data = append(f.Data, db.m[v].Entry(v.Pubkey, mode))
	}
	return f.MarshalJSON()
}

// Entry returns h as the interchange entry of pubkey in mode, as
// [DB.Export] writes it. An unknown mode is taken as [ExportComplete].
func (h *History) Entry(pubkey Pubkey, mode ExportMode) InterchangeEntry {
	if mode == ExportMinimal {
		return h.minimalEntry(pubkey)
	}
	e := InterchangeEntry{Pubkey: pubkey}
	if h.hasBlockMark {
		e.SignedBlocks = append(e.SignedBlocks, SignedBlock{Slot: h.blockMark})
	}
	e.SignedBlocks = append(e.SignedBlocks, cloneBlocks(h.blocks)...)
	if h.hasAttMark {
		e.SignedAttestations = append(e.SignedAttestations, SignedAttestation{Source: h.sourceMark, Target: h.targetMark})
	}
	e.SignedAttestations = append(e.SignedAttestations, cloneAtts(h.atts)...)
	return e
}

func (h *History) minimalEntry(pk Pubkey) InterchangeEntry {
	e := InterchangeEntry{Pubkey: pk}
	if h.hasBlockMark || len(h.blocks) > 0 {
		top := h.blockMark
		if n := len(h.blocks); n > 0 {
			top = max(top, h.blocks[n-1].Slot)
		}
		e.SignedBlocks = []SignedBlock{{Slot: top}}
	}
	if h.hasAttMark || len(h.atts) > 0 {
		s, t := h.sourceMark, h.targetMark
		for _, a := range h.atts {
			s, t = max(s, a.Source), max(t, a.Target)
		}
		e.SignedAttestations = []SignedAttestation{{Source: s, Target: t}}
	}
	return e
}

// Interchange is a parsed EIP-3076 interchange file (format version 5).
type Interchange struct {
	GenesisValidatorsRoot Root
	Data                  []InterchangeEntry
}

// InterchangeEntry is one element of an interchange file's data: one
// validator's records, in file order.
type InterchangeEntry struct {
	Pubkey             Pubkey
	SignedBlocks       []SignedBlock
	SignedAttestations []SignedAttestation
}

// The JSON shapes of EIP-3076 (schema.json of the interchange tests).
type (
	jsonInterchange struct {
		Metadata *jsonMetadata `json:"metadata"`
		Data     *[]jsonEntry  `json:"data"`
	}
	jsonMetadata struct {
		Version *string `json:"interchange_format_version"`
		GVR     *string `json:"genesis_validators_root"`
	}
	jsonEntry struct {
		Pubkey             *string            `json:"pubkey"`
		SignedBlocks       *[]jsonBlock       `json:"signed_blocks"`
		SignedAttestations *[]jsonAttestation `json:"signed_attestations"`
	}
	jsonBlock struct {
		Slot        *string `json:"slot"`
		SigningRoot *string `json:"signing_root,omitempty"`
	}
	jsonAttestation struct {
		Source      *string `json:"source_epoch"`
		Target      *string `json:"target_epoch"`
		SigningRoot *string `json:"signing_root,omitempty"`
	}
)

// ParseInterchange parses an EIP-3076 interchange file strictly: the
// fields the schema requires must be present, no other field may be, and
// no data may follow the JSON value. It does not judge the records
// (slashable data parses).
func ParseInterchange(data []byte) (*Interchange, error) {
	var j jsonInterchange
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: interchange: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: interchange: trailing data", ErrMalformed)
	}
	if j.Metadata == nil || j.Metadata.Version == nil || j.Metadata.GVR == nil || j.Data == nil {
		return nil, fmt.Errorf("%w: interchange: metadata.interchange_format_version, metadata.genesis_validators_root and data are required", ErrMalformed)
	}
	if *j.Metadata.Version != InterchangeVersion {
		return nil, fmt.Errorf("%w: interchange: format version %q, want %q", ErrMalformed, *j.Metadata.Version, InterchangeVersion)
	}
	f := &Interchange{Data: make([]InterchangeEntry, 0, len(*j.Data))}
	if err := parseHex(*j.Metadata.GVR, f.GenesisValidatorsRoot[:]); err != nil {
		return nil, fmt.Errorf("%w: interchange: genesis_validators_root: %w", ErrMalformed, err)
	}
	for i, je := range *j.Data {
		e, err := parseEntry(je)
		if err != nil {
			return nil, fmt.Errorf("%w: interchange: data[%d]: %w", ErrMalformed, i, err)
		}
		f.Data = append(f.Data, e)
	}
	return f, nil
}

func parseEntry(je jsonEntry) (InterchangeEntry, error) {
	var e InterchangeEntry
	if je.Pubkey == nil || je.SignedBlocks == nil || je.SignedAttestations == nil {
		return e, fmt.Errorf("pubkey, signed_blocks and signed_attestations are required")
	}
	if err := parseHex(*je.Pubkey, e.Pubkey[:]); err != nil {
		return e, fmt.Errorf("pubkey: %w", err)
	}
	for k, jb := range *je.SignedBlocks {
		if jb.Slot == nil {
			return e, fmt.Errorf("signed_blocks[%d]: slot is required", k)
		}
		slot, err := parseUint(*jb.Slot)
		if err != nil {
			return e, fmt.Errorf("signed_blocks[%d].slot: %w", k, err)
		}
		r, err := parseOptRoot(jb.SigningRoot)
		if err != nil {
			return e, fmt.Errorf("signed_blocks[%d].signing_root: %w", k, err)
		}
		e.SignedBlocks = append(e.SignedBlocks, SignedBlock{Slot: slot, SigningRoot: r})
	}
	for k, ja := range *je.SignedAttestations {
		if ja.Source == nil || ja.Target == nil {
			return e, fmt.Errorf("signed_attestations[%d]: source_epoch and target_epoch are required", k)
		}
		s, err := parseUint(*ja.Source)
		if err != nil {
			return e, fmt.Errorf("signed_attestations[%d].source_epoch: %w", k, err)
		}
		t, err := parseUint(*ja.Target)
		if err != nil {
			return e, fmt.Errorf("signed_attestations[%d].target_epoch: %w", k, err)
		}
		r, err := parseOptRoot(ja.SigningRoot)
		if err != nil {
			return e, fmt.Errorf("signed_attestations[%d].signing_root: %w", k, err)
		}
		e.SignedAttestations = append(e.SignedAttestations, SignedAttestation{Source: s, Target: t, SigningRoot: r})
	}
	return e, nil
}

// parseUint parses EIP-3076's Uint64: a decimal string, canonical (no sign,
// no leading zero but in "0").
func parseUint(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a canonical decimal", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q does not fit in 64 bits", s)
	}
	return v, nil
}

// parseHex parses a 0x-prefixed hex string of exactly len(dst) bytes.
func parseHex(s string, dst []byte) error {
	if len(s) != 2+2*len(dst) || s[:2] != "0x" {
		return fmt.Errorf("want 0x and %d hex digits", 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s[2:])); err != nil {
		return fmt.Errorf("bad hex: %w", err)
	}
	return nil
}

func parseOptRoot(s *string) (*Root, error) {
	if s == nil {
		return nil, nil
	}
	var r Root
	if err := parseHex(*s, r[:]); err != nil {
		return nil, err
	}
	return &r, nil
}

// MarshalJSON writes f in EIP-3076 form: numbers as decimal strings, hex in
// lower case with 0x, signing_root only when known, empty lists as [].
func (f *Interchange) MarshalJSON() ([]byte, error) {
	version, gvr := InterchangeVersion, hexString(f.GenesisValidatorsRoot[:])
	entries := make([]jsonEntry, 0, len(f.Data))
	for _, e := range f.Data {
		pk := hexString(e.Pubkey[:])
		bs := make([]jsonBlock, 0, len(e.SignedBlocks))
		for _, b := range e.SignedBlocks {
			slot := strconv.FormatUint(b.Slot, 10)
			bs = append(bs, jsonBlock{Slot: &slot, SigningRoot: optRootString(b.SigningRoot)})
		}
		as := make([]jsonAttestation, 0, len(e.SignedAttestations))
		for _, a := range e.SignedAttestations {
			s, t := strconv.FormatUint(a.Source, 10), strconv.FormatUint(a.Target, 10)
			as = append(as, jsonAttestation{Source: &s, Target: &t, SigningRoot: optRootString(a.SigningRoot)})
		}
		entries = append(entries, jsonEntry{Pubkey: &pk, SignedBlocks: &bs, SignedAttestations: &as})
	}
	return json.Marshal(jsonInterchange{
		Metadata: &jsonMetadata{Version: &version, GVR: &gvr},
		Data:     &entries,
	})
}

func hexString(b []byte) string { return "0x" + hex.EncodeToString(b) }

func optRootString(r *Root) *string {
	if r == nil {
		return nil
	}
	s := hexString(r[:])
	return &s
}
