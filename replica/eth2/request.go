package eth2

import (
	"errors"
	"fmt"
)

// Errors. Every error Parse and SigningRoot return wraps exactly one of them.
var (
	// ErrBadRequest: the body is not a well-formed request of its type.
	ErrBadRequest = errors.New("eth2: bad signing request")
	// ErrUnknownType: the body's "type" is not a request type this package signs.
	ErrUnknownType = errors.New("eth2: unknown signing request type")
	// ErrRootMismatch: the body's signingRoot differs from the root computed from its content.
	ErrRootMismatch = errors.New("eth2: supplied signingRoot does not match the request")
)

// MaxBodySize bounds a request body. The largest legitimate body is a full
// post-Bellatrix block with its execution payload's transactions.
const MaxBodySize = 16 << 20

// Request types of the remote-signing API v1.1.0, and vhsm's extensions.
const (
	TypeAggregationSlot       = "AGGREGATION_SLOT"
	TypeAggregateAndProof     = "AGGREGATE_AND_PROOF"
	TypeAggregateAndProofV2   = "AGGREGATE_AND_PROOF_V2" // Web3Signer extension: {version, data}; Electra shape
	TypeAttestation           = "ATTESTATION"
	TypeBlock                 = "BLOCK" // deprecated phase0 form
	TypeBlockV2               = "BLOCK_V2"
	TypeDeposit               = "DEPOSIT"
	TypeRandaoReveal          = "RANDAO_REVEAL"
	TypeVoluntaryExit         = "VOLUNTARY_EXIT"
	TypeSyncCommitteeMessage  = "SYNC_COMMITTEE_MESSAGE"
	TypeSyncCommitteeSelProof = "SYNC_COMMITTEE_SELECTION_PROOF"
	TypeSyncCommitteeContrib  = "SYNC_COMMITTEE_CONTRIBUTION_AND_PROOF"
	TypeValidatorRegistration = "VALIDATOR_REGISTRATION"
	TypeBLSToExecutionChange  = "BLS_TO_EXECUTION_CHANGE" // vhsm extension
)

// Types lists every request type Parse accepts.
var Types = []string{
	TypeAggregationSlot, TypeAggregateAndProof, TypeAggregateAndProofV2, TypeAttestation, TypeBlock, TypeBlockV2,
	TypeDeposit, TypeRandaoReveal, TypeVoluntaryExit, TypeSyncCommitteeMessage, TypeSyncCommitteeSelProof,
	TypeSyncCommitteeContrib, TypeValidatorRegistration, TypeBLSToExecutionChange,
}

// Domain types (consensus-specs phase0, altair, capella beacon-chain.md;
// builder-specs for the application builder domain).
var (
	DomainBeaconProposer              = [4]byte{0x00, 0, 0, 0}
	DomainBeaconAttester              = [4]byte{0x01, 0, 0, 0}
	DomainRandao                      = [4]byte{0x02, 0, 0, 0}
	DomainDeposit                     = [4]byte{0x03, 0, 0, 0}
	DomainVoluntaryExit               = [4]byte{0x04, 0, 0, 0}
	DomainSelectionProof              = [4]byte{0x05, 0, 0, 0}
	DomainAggregateAndProof           = [4]byte{0x06, 0, 0, 0}
	DomainSyncCommittee               = [4]byte{0x07, 0, 0, 0}
	DomainSyncCommitteeSelectionProof = [4]byte{0x08, 0, 0, 0}
	DomainContributionAndProof        = [4]byte{0x09, 0, 0, 0}
	DomainBLSToExecutionChange        = [4]byte{0x0A, 0, 0, 0}
	DomainApplicationBuilder          = [4]byte{0x00, 0, 0, 0x01}
)

// ForkInfo is the request's fork_info.
type ForkInfo struct {
	PreviousVersion       [4]byte
	CurrentVersion        [4]byte
	Epoch                 uint64
	GenesisValidatorsRoot [32]byte
}

// Version is the fork version in force at epoch (get_domain's choice).
func (f ForkInfo) Version(epoch uint64) [4]byte {
	if epoch < f.Epoch {
		return f.PreviousVersion
	}
	return f.CurrentVersion
}

// Domain is get_domain(state, domainType, epoch) for this fork_info.
func (f ForkInfo) Domain(domainType [4]byte, epoch uint64) [32]byte {
	return ComputeDomain(domainType, f.Version(epoch), f.GenesisValidatorsRoot)
}

// DepositMsg is the DEPOSIT request's object: a DepositMessage and the
// genesis fork version that fixes its domain.
type DepositMsg struct {
	DepositMessage
	GenesisForkVersion [4]byte
}

// SyncCommitteeMessage is the SYNC_COMMITTEE_MESSAGE object (the signature is
// over beacon_block_root; slot selects the domain's fork).
type SyncCommitteeMessage struct {
	BeaconBlockRoot [32]byte
	Slot            uint64
}

// Request is one decoded signing request. Type says which of the object
// fields is set.
type Request struct {
	Type string
	// ForkInfo is nil for DEPOSIT and VALIDATOR_REGISTRATION, which are
	// fork-agnostic.
	ForkInfo *ForkInfo
	// ExpectedRoot is the body's optional signingRoot.
	ExpectedRoot *[32]byte

	AggregationSlot       *uint64 // AGGREGATION_SLOT: aggregation_slot.slot
	AggregateAndProof     *AggregateAndProof
	Attestation           *AttestationData
	BlockFork             Fork               // BLOCK, BLOCK_V2: beacon_block.version (PHASE0 for BLOCK)
	Block                 *BeaconBlock       // BLOCK, BLOCK_V2 with a full block
	BlockHeader           *BeaconBlockHeader // BLOCK_V2 with block_header
	Deposit               *DepositMsg
	RandaoEpoch           *uint64 // RANDAO_REVEAL: randao_reveal.epoch
	VoluntaryExit         *VoluntaryExit
	SyncCommitteeMessage  *SyncCommitteeMessage
	SyncSelectionData     *SyncAggregatorSelectionData
	ContributionAndProof  *ContributionAndProof
	ValidatorRegistration *ValidatorRegistration
	BLSToExecutionChange  *BLSToExecutionChange
	// GenesisForkVersion: BLS_TO_EXECUTION_CHANGE (required) and
	// VALIDATOR_REGISTRATION (optional vhsm extension; default mainnet
	// 0x00000000) carry it at the top level.
	GenesisForkVersion [4]byte
}

// Parse decodes one signing request body strictly: unknown and missing
// fields, wrong hex lengths, bad numbers and unknown types are errors.
func Parse(body []byte) (*Request, error) {
	if len(body) > MaxBodySize {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrBadRequest, MaxBodySize)
	}
	tree, err := parseTree(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	d := &dec{}
	o := d.asObj("", tree)
	if d.err != nil {
		return nil, fmt.Errorf("%w: body must be a JSON object", ErrBadRequest)
	}
	t, ok := o.m["type"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: type: required string field missing", ErrBadRequest)
	}
	o.used["type"] = true
	r := &Request{Type: t}
	if o.has("signing_root") {
		root := o.b32("signing_root")
		r.ExpectedRoot = &root
	} else {
		o.used["signing_root"] = true
	}
	needFork := true
	switch t {
	case TypeAggregationSlot:
		x := o.obj("aggregation_slot")
		s := x.u64("slot")
		x.done()
		r.AggregationSlot = &s
	case TypeAggregateAndProof:
		x := o.obj("aggregate_and_proof")
		// Electra's aggregate carries committee_bits; accept that shape too.
		electra := false
		if ag, ok := x.m["aggregate"].(map[string]any); ok {
			_, electra = ag["committee_bits"]
		}
		a := decAggregateAndProof(x, electra)
		r.AggregateAndProof = &a
	case TypeAggregateAndProofV2:
		x := o.obj("aggregate_and_proof")
		v := x.str("version")
		f, ok := forkByName(v)
		if d.err == nil && !ok {
			d.fail(join(x.path, "version"), "unknown fork version %q", truncate(v, 32))
		}
		a := decAggregateAndProof(x.obj("data"), f >= Electra)
		x.done()
		r.AggregateAndProof = &a
	case TypeAttestation:
		a := decAttestationData(o.obj("attestation"))
		r.Attestation = &a
	case TypeBlock:
		r.BlockFork = Phase0
		b := decBeaconBlock(o.obj("block"), Phase0)
		r.Block = &b
	case TypeBlockV2:
		x := o.obj("beacon_block")
		v := x.str("version")
		f, ok := forkByName(v)
		if d.err == nil && !ok {
			d.fail(join(x.path, "version"), "unknown fork version %q", truncate(v, 32))
		}
		r.BlockFork = f
		switch {
		case x.has("block") && x.has("block_header"):
			d.fail(x.path, "carries both block and block_header")
		case x.has("block"):
			b := decBeaconBlock(x.obj("block"), f)
			r.Block = &b
		default:
			h := decBeaconBlockHeader(x.obj("block_header"))
			r.BlockHeader = &h
		}
		x.done()
	case TypeDeposit:
		needFork = false
		x := o.obj("deposit")
		r.Deposit = &DepositMsg{
			DepositMessage: DepositMessage{Pubkey: x.b48("pubkey"), WithdrawalCredentials: x.b32("withdrawal_credentials"),
				Amount: x.u64("amount")},
			GenesisForkVersion: x.b4("genesis_fork_version"),
		}
		x.done()
	case TypeRandaoReveal:
		x := o.obj("randao_reveal")
		e := x.u64("epoch")
		x.done()
		r.RandaoEpoch = &e
	case TypeVoluntaryExit:
		e := decVoluntaryExit(o.obj("voluntary_exit"))
		r.VoluntaryExit = &e
	case TypeSyncCommitteeMessage:
		x := o.obj("sync_committee_message")
		r.SyncCommitteeMessage = &SyncCommitteeMessage{BeaconBlockRoot: x.b32("beacon_block_root"), Slot: x.u64("slot")}
		x.done()
	case TypeSyncCommitteeSelProof:
		x := o.obj("sync_aggregator_selection_data")
		r.SyncSelectionData = &SyncAggregatorSelectionData{Slot: x.u64("slot"), SubcommitteeIndex: x.u64("subcommittee_index")}
		x.done()
	case TypeSyncCommitteeContrib:
		c := decContributionAndProof(o.obj("contribution_and_proof"))
		r.ContributionAndProof = &c
	case TypeValidatorRegistration:
		needFork = false
		x := o.obj("validator_registration")
		r.ValidatorRegistration = &ValidatorRegistration{FeeRecipient: x.b20("fee_recipient"), GasLimit: x.u64("gas_limit"),
			Timestamp: x.u64("timestamp"), Pubkey: x.b48("pubkey")}
		x.done()
		if o.has("genesis_fork_version") {
			r.GenesisForkVersion = o.b4("genesis_fork_version")
		}
		// Validator clients may send a fork_info with it; it does not
		// enter the builder domain.
		if o.has("fork_info") {
			r.ForkInfo = decForkInfo(o.obj("fork_info"))
		}
	case TypeBLSToExecutionChange:
		c := decBLSToExecutionChange(o.obj("bls_to_execution_change"))
		r.BLSToExecutionChange = &c
		r.GenesisForkVersion = o.b4("genesis_fork_version")
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, truncate(t, 64))
	}
	if needFork {
		r.ForkInfo = decForkInfo(o.obj("fork_info"))
	} else if t == TypeDeposit && o.has("fork_info") {
		// Accepted and ignored: a deposit's domain is fork-agnostic.
		decForkInfo(o.obj("fork_info"))
	}
	o.done()
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, d.err)
	}
	return r, nil
}

func decForkInfo(o *obj) *ForkInfo {
	f := &ForkInfo{}
	x := o.obj("fork")
	f.PreviousVersion = x.b4("previous_version")
	f.CurrentVersion = x.b4("current_version")
	f.Epoch = x.u64("epoch")
	x.done()
	f.GenesisValidatorsRoot = o.b32("genesis_validators_root")
	o.done()
	return f
}

// ObjectRootAndDomain returns hash_tree_root of the object the request signs
// and the signature domain, per consensus-specs (validator.md, beacon-chain.md)
// and builder-specs.
func (r *Request) ObjectRootAndDomain() (obj, domain [32]byte, err error) {
	fi := r.ForkInfo
	switch r.Type {
	case TypeAggregationSlot:
		return uint64Root(*r.AggregationSlot), fi.Domain(DomainSelectionProof, *r.AggregationSlot/SlotsPerEpoch), nil
	case TypeAggregateAndProof, TypeAggregateAndProofV2:
		a := r.AggregateAndProof
		return a.HashTreeRoot(), fi.Domain(DomainAggregateAndProof, a.Aggregate.Data.Slot/SlotsPerEpoch), nil
	case TypeAttestation:
		return r.Attestation.HashTreeRoot(), fi.Domain(DomainBeaconAttester, r.Attestation.Target.Epoch), nil
	case TypeBlock, TypeBlockV2:
		h := r.header()
		return h.HashTreeRoot(), fi.Domain(DomainBeaconProposer, h.Slot/SlotsPerEpoch), nil
	case TypeDeposit:
		return r.Deposit.DepositMessage.HashTreeRoot(), ComputeDomain(DomainDeposit, r.Deposit.GenesisForkVersion, [32]byte{}), nil
	case TypeRandaoReveal:
		return uint64Root(*r.RandaoEpoch), fi.Domain(DomainRandao, *r.RandaoEpoch), nil
	case TypeVoluntaryExit:
		return r.VoluntaryExit.HashTreeRoot(), exitDomain(fi, r.VoluntaryExit.Epoch), nil
	case TypeSyncCommitteeMessage:
		m := r.SyncCommitteeMessage
		return m.BeaconBlockRoot, fi.Domain(DomainSyncCommittee, m.Slot/SlotsPerEpoch), nil
	case TypeSyncCommitteeSelProof:
		s := r.SyncSelectionData
		return s.HashTreeRoot(), fi.Domain(DomainSyncCommitteeSelectionProof, s.Slot/SlotsPerEpoch), nil
	case TypeSyncCommitteeContrib:
		c := r.ContributionAndProof
		return c.HashTreeRoot(), fi.Domain(DomainContributionAndProof, c.Contribution.Slot/SlotsPerEpoch), nil
	case TypeValidatorRegistration:
		return r.ValidatorRegistration.HashTreeRoot(), ComputeDomain(DomainApplicationBuilder, r.GenesisForkVersion, [32]byte{}), nil
	case TypeBLSToExecutionChange:
		return r.BLSToExecutionChange.HashTreeRoot(),
			ComputeDomain(DomainBLSToExecutionChange, r.GenesisForkVersion, fi.GenesisValidatorsRoot), nil
	}
	return obj, domain, fmt.Errorf("%w: %q", ErrUnknownType, truncate(r.Type, 64))
}

// exitDomain applies EIP-7044: on a built-in network whose fork_info is at
// Deneb or later, exits use the Capella fork version. On other networks the
// Capella version is unknown and the phase0 rule (get_domain at the exit's
// epoch) applies; an exit signed so is simply invalid after Deneb, never
// valid for anything else.
func exitDomain(fi *ForkInfo, epoch uint64) [32]byte {
	if n, ok := NetworkByGenesisValidatorsRoot(fi.GenesisValidatorsRoot); ok {
		if f, ok := n.forkOf(fi.CurrentVersion); ok && f >= Deneb {
			return ComputeDomain(DomainVoluntaryExit, n.ForkVersions[Capella], fi.GenesisValidatorsRoot)
		}
	}
	return fi.Domain(DomainVoluntaryExit, epoch)
}

// header is the block header a BLOCK/BLOCK_V2 request signs.
func (r *Request) header() BeaconBlockHeader {
	if r.Block != nil {
		return r.Block.Header()
	}
	return *r.BlockHeader
}

// SigningRoot is compute_signing_root(object, domain) for the request. If the
// body carried a signingRoot that differs, it returns an error wrapping
// ErrRootMismatch.
func (r *Request) SigningRoot() ([32]byte, error) {
	obj, domain, err := r.ObjectRootAndDomain()
	if err != nil {
		return [32]byte{}, err
	}
	root := ComputeSigningRoot(obj, domain)
	if r.ExpectedRoot != nil && *r.ExpectedRoot != root {
		return [32]byte{}, fmt.Errorf("%w: supplied %x, computed %x", ErrRootMismatch, r.ExpectedRoot[:], root[:])
	}
	return root, nil
}

// Slashable kinds.
const (
	KindBlock       = 1
	KindAttestation = 2
)

// Slashable is what slashing protection needs of a block proposal or an
// attestation.
type Slashable struct {
	Kind                  int // KindBlock or KindAttestation
	Slot                  uint64
	SourceEpoch           uint64
	TargetEpoch           uint64
	GenesisValidatorsRoot [32]byte
}

// Slashable returns the slashing-relevant data of a BLOCK, BLOCK_V2 or
// ATTESTATION request, and nil for every other type.
func (r *Request) Slashable() *Slashable {
	switch r.Type {
	case TypeBlock, TypeBlockV2:
		h := r.header()
		return &Slashable{Kind: KindBlock, Slot: h.Slot, GenesisValidatorsRoot: r.ForkInfo.GenesisValidatorsRoot}
	case TypeAttestation:
		a := r.Attestation
		return &Slashable{Kind: KindAttestation, Slot: a.Slot, SourceEpoch: a.Source.Epoch, TargetEpoch: a.Target.Epoch,
			GenesisValidatorsRoot: r.ForkInfo.GenesisValidatorsRoot}
	}
	return nil
}
