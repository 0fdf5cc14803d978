package eth2

// Consensus containers that signing requests carry, with their SSZ
// hash_tree_root (consensus-specs phase0 … fulu beacon-chain.md), their JSON
// decoders (beacon-API field names) and mainnet preset limits.

// Preset limits (consensus-specs presets/mainnet).
const (
	SlotsPerEpoch                   = 32
	maxValidatorsPerCommittee       = 2048
	maxCommitteesPerSlot            = 64
	maxProposerSlashings            = 16
	maxAttesterSlashings            = 2
	maxAttestations                 = 128
	maxDeposits                     = 16
	maxVoluntaryExits               = 16
	depositContractTreeDepth        = 32
	syncCommitteeSize               = 512
	syncCommitteeSubnetCount        = 4
	bytesPerLogsBloom               = 256
	maxExtraDataBytes               = 32
	maxBytesPerTransaction          = 1 << 30
	maxTransactionsPerPayload       = 1 << 20
	maxWithdrawalsPerPayload        = 16
	maxBLSToExecutionChanges        = 16
	maxBlobCommitmentsPerBlock      = 4096
	maxAttesterSlashingsElectra     = 1
	maxAttestationsElectra          = 8
	maxDepositRequestsPerPayload    = 8192
	maxWithdrawalRequestsPerPayload = 16
	maxConsolidationRequests        = 2
)

// Fork names a consensus fork, in order.
type Fork int

// Forks.
const (
	Phase0 Fork = iota
	Altair
	Bellatrix
	Capella
	Deneb
	Electra
	Fulu
)

var forkNames = []string{"PHASE0", "ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU"}

func (f Fork) String() string {
	if f >= 0 && int(f) < len(forkNames) {
		return forkNames[f]
	}
	return "UNKNOWN"
}

func forkByName(s string) (Fork, bool) {
	for i, n := range forkNames {
		if n == s {
			return Fork(i), true
		}
	}
	return 0, false
}

// Checkpoint is phase0 Checkpoint.
type Checkpoint struct {
	Epoch uint64
	Root  [32]byte
}

func (c Checkpoint) HashTreeRoot() [32]byte { return container(uint64Root(c.Epoch), c.Root) }

func decCheckpoint(o *obj) Checkpoint {
	c := Checkpoint{Epoch: o.u64("epoch"), Root: o.b32("root")}
	o.done()
	return c
}

// AttestationData is phase0 AttestationData.
type AttestationData struct {
	Slot            uint64
	Index           uint64
	BeaconBlockRoot [32]byte
	Source, Target  Checkpoint
}

func (a AttestationData) HashTreeRoot() [32]byte {
	return container(uint64Root(a.Slot), uint64Root(a.Index), a.BeaconBlockRoot,
		a.Source.HashTreeRoot(), a.Target.HashTreeRoot())
}

func decAttestationData(o *obj) AttestationData {
	a := AttestationData{
		Slot:            o.u64("slot"),
		Index:           o.u64("index"),
		BeaconBlockRoot: o.b32("beacon_block_root"),
		Source:          decCheckpoint(o.obj("source")),
		Target:          decCheckpoint(o.obj("target")),
	}
	o.done()
	return a
}

// Attestation is phase0 Attestation, or Electra's when Electra is set (then
// CommitteeBits is present and the bitlist limit is larger).
type Attestation struct {
	Electra         bool
	AggregationBits Bitlist
	Data            AttestationData
	Signature       [96]byte
	CommitteeBits   []byte // Bitvector[MAX_COMMITTEES_PER_SLOT], Electra only
}

func (a Attestation) HashTreeRoot() [32]byte {
	if a.Electra {
		return container(a.AggregationBits.root(maxValidatorsPerCommittee*maxCommitteesPerSlot),
			a.Data.HashTreeRoot(), bytesRoot(a.Signature[:]), bitvectorRoot(a.CommitteeBits))
	}
	return container(a.AggregationBits.root(maxValidatorsPerCommittee), a.Data.HashTreeRoot(), bytesRoot(a.Signature[:]))
}

func decAttestation(o *obj, electra bool) Attestation {
	a := Attestation{Electra: electra}
	if electra {
		a.AggregationBits = o.bitlist("aggregation_bits", maxValidatorsPerCommittee*maxCommitteesPerSlot)
	} else {
		a.AggregationBits = o.bitlist("aggregation_bits", maxValidatorsPerCommittee)
	}
	a.Data = decAttestationData(o.obj("data"))
	a.Signature = o.b96("signature")
	if electra {
		a.CommitteeBits = o.bitvector("committee_bits", maxCommitteesPerSlot)
	}
	o.done()
	return a
}

// IndexedAttestation is phase0 IndexedAttestation (Electra: larger limit).
type IndexedAttestation struct {
	Electra          bool
	AttestingIndices []uint64
	Data             AttestationData
	Signature        [96]byte
}

func (a IndexedAttestation) HashTreeRoot() [32]byte {
	limit := uint64(maxValidatorsPerCommittee)
	if a.Electra {
		limit *= maxCommitteesPerSlot
	}
	return container(uint64ListRoot(a.AttestingIndices, limit), a.Data.HashTreeRoot(), bytesRoot(a.Signature[:]))
}

func decIndexedAttestation(o *obj, electra bool) IndexedAttestation {
	a := IndexedAttestation{Electra: electra}
	limit := uint64(maxValidatorsPerCommittee)
	if electra {
		limit *= maxCommitteesPerSlot
	}
	l := o.list("attesting_indices", limit)
	a.AttestingIndices = make([]uint64, len(l))
	for i, v := range l {
		a.AttestingIndices[i] = o.d.u64(idx(join(o.path, "attesting_indices"), i), v)
	}
	a.Data = decAttestationData(o.obj("data"))
	a.Signature = o.b96("signature")
	o.done()
	return a
}

// AttesterSlashing is phase0 AttesterSlashing.
type AttesterSlashing struct{ Attestation1, Attestation2 IndexedAttestation }

func (s AttesterSlashing) HashTreeRoot() [32]byte {
	return container(s.Attestation1.HashTreeRoot(), s.Attestation2.HashTreeRoot())
}

func decAttesterSlashing(o *obj, electra bool) AttesterSlashing {
	s := AttesterSlashing{
		Attestation1: decIndexedAttestation(o.obj("attestation_1"), electra),
		Attestation2: decIndexedAttestation(o.obj("attestation_2"), electra),
	}
	o.done()
	return s
}

// BeaconBlockHeader is phase0 BeaconBlockHeader.
type BeaconBlockHeader struct {
	Slot          uint64
	ProposerIndex uint64
	ParentRoot    [32]byte
	StateRoot     [32]byte
	BodyRoot      [32]byte
}

func (h BeaconBlockHeader) HashTreeRoot() [32]byte {
	return container(uint64Root(h.Slot), uint64Root(h.ProposerIndex), h.ParentRoot, h.StateRoot, h.BodyRoot)
}

func decBeaconBlockHeader(o *obj) BeaconBlockHeader {
	h := BeaconBlockHeader{
		Slot:          o.u64("slot"),
		ProposerIndex: o.u64("proposer_index"),
		ParentRoot:    o.b32("parent_root"),
		StateRoot:     o.b32("state_root"),
		BodyRoot:      o.b32("body_root"),
	}
	o.done()
	return h
}

// SignedBeaconBlockHeader is phase0 SignedBeaconBlockHeader.
type SignedBeaconBlockHeader struct {
	Message   BeaconBlockHeader
	Signature [96]byte
}

func (s SignedBeaconBlockHeader) HashTreeRoot() [32]byte {
	return container(s.Message.HashTreeRoot(), bytesRoot(s.Signature[:]))
}

func decSignedBeaconBlockHeader(o *obj) SignedBeaconBlockHeader {
	s := SignedBeaconBlockHeader{Message: decBeaconBlockHeader(o.obj("message")), Signature: o.b96("signature")}
	o.done()
	return s
}

// ProposerSlashing is phase0 ProposerSlashing.
type ProposerSlashing struct{ Header1, Header2 SignedBeaconBlockHeader }

func (p ProposerSlashing) HashTreeRoot() [32]byte {
	return container(p.Header1.HashTreeRoot(), p.Header2.HashTreeRoot())
}

func decProposerSlashing(o *obj) ProposerSlashing {
	p := ProposerSlashing{
		Header1: decSignedBeaconBlockHeader(o.obj("signed_header_1")),
		Header2: decSignedBeaconBlockHeader(o.obj("signed_header_2")),
	}
	o.done()
	return p
}

// Eth1Data is phase0 Eth1Data.
type Eth1Data struct {
	DepositRoot  [32]byte
	DepositCount uint64
	BlockHash    [32]byte
}

func (e Eth1Data) HashTreeRoot() [32]byte {
	return container(e.DepositRoot, uint64Root(e.DepositCount), e.BlockHash)
}

func decEth1Data(o *obj) Eth1Data {
	e := Eth1Data{DepositRoot: o.b32("deposit_root"), DepositCount: o.u64("deposit_count"), BlockHash: o.b32("block_hash")}
	o.done()
	return e
}

// DepositData is phase0 DepositData.
type DepositData struct {
	Pubkey                [48]byte
	WithdrawalCredentials [32]byte
	Amount                uint64
	Signature             [96]byte
}

func (d DepositData) HashTreeRoot() [32]byte {
	return container(bytesRoot(d.Pubkey[:]), d.WithdrawalCredentials, uint64Root(d.Amount), bytesRoot(d.Signature[:]))
}

func decDepositData(o *obj) DepositData {
	d := DepositData{
		Pubkey:                o.b48("pubkey"),
		WithdrawalCredentials: o.b32("withdrawal_credentials"),
		Amount:                o.u64("amount"),
		Signature:             o.b96("signature"),
	}
	o.done()
	return d
}

// DepositMessage is phase0 DepositMessage (what a deposit signature signs).
type DepositMessage struct {
	Pubkey                [48]byte
	WithdrawalCredentials [32]byte
	Amount                uint64
}

func (d DepositMessage) HashTreeRoot() [32]byte {
	return container(bytesRoot(d.Pubkey[:]), d.WithdrawalCredentials, uint64Root(d.Amount))
}

// Deposit is phase0 Deposit.
type Deposit struct {
	Proof [depositContractTreeDepth + 1][32]byte
	Data  DepositData
}

func (d Deposit) HashTreeRoot() [32]byte {
	return container(merkleize(d.Proof[:], depositContractTreeDepth+1), d.Data.HashTreeRoot())
}

func decDeposit(o *obj) Deposit {
	var d Deposit
	path := join(o.path, "proof")
	l := o.list("proof", depositContractTreeDepth+1)
	if o.d.err == nil && len(l) != depositContractTreeDepth+1 {
		o.d.fail(path, "must have %d elements", depositContractTreeDepth+1)
	}
	for i, v := range l {
		if i < len(d.Proof) {
			o.d.fixed(idx(path, i), v, d.Proof[i][:])
		}
	}
	d.Data = decDepositData(o.obj("data"))
	o.done()
	return d
}

// VoluntaryExit is phase0 VoluntaryExit.
type VoluntaryExit struct {
	Epoch          uint64
	ValidatorIndex uint64
}

func (e VoluntaryExit) HashTreeRoot() [32]byte {
	return container(uint64Root(e.Epoch), uint64Root(e.ValidatorIndex))
}

func decVoluntaryExit(o *obj) VoluntaryExit {
	e := VoluntaryExit{Epoch: o.u64("epoch"), ValidatorIndex: o.u64("validator_index")}
	o.done()
	return e
}

// SignedVoluntaryExit is phase0 SignedVoluntaryExit.
type SignedVoluntaryExit struct {
	Message   VoluntaryExit
	Signature [96]byte
}

func (s SignedVoluntaryExit) HashTreeRoot() [32]byte {
	return container(s.Message.HashTreeRoot(), bytesRoot(s.Signature[:]))
}

func decSignedVoluntaryExit(o *obj) SignedVoluntaryExit {
	s := SignedVoluntaryExit{Message: decVoluntaryExit(o.obj("message")), Signature: o.b96("signature")}
	o.done()
	return s
}

// SyncAggregate is altair SyncAggregate.
type SyncAggregate struct {
	SyncCommitteeBits      [syncCommitteeSize / 8]byte
	SyncCommitteeSignature [96]byte
}

func (s SyncAggregate) HashTreeRoot() [32]byte {
	return container(bitvectorRoot(s.SyncCommitteeBits[:]), bytesRoot(s.SyncCommitteeSignature[:]))
}

func decSyncAggregate(o *obj) SyncAggregate {
	var s SyncAggregate
	o.fixed("sync_committee_bits", s.SyncCommitteeBits[:])
	s.SyncCommitteeSignature = o.b96("sync_committee_signature")
	o.done()
	return s
}

// Withdrawal is capella Withdrawal.
type Withdrawal struct {
	Index          uint64
	ValidatorIndex uint64
	Address        [20]byte
	Amount         uint64
}

func (w Withdrawal) HashTreeRoot() [32]byte {
	return container(uint64Root(w.Index), uint64Root(w.ValidatorIndex), bytesRoot(w.Address[:]), uint64Root(w.Amount))
}

func decWithdrawal(o *obj) Withdrawal {
	w := Withdrawal{Index: o.u64("index"), ValidatorIndex: o.u64("validator_index"), Address: o.b20("address"), Amount: o.u64("amount")}
	o.done()
	return w
}

// BLSToExecutionChange is capella BLSToExecutionChange.
type BLSToExecutionChange struct {
	ValidatorIndex     uint64
	FromBLSPubkey      [48]byte
	ToExecutionAddress [20]byte
}

func (c BLSToExecutionChange) HashTreeRoot() [32]byte {
	return container(uint64Root(c.ValidatorIndex), bytesRoot(c.FromBLSPubkey[:]), bytesRoot(c.ToExecutionAddress[:]))
}

func decBLSToExecutionChange(o *obj) BLSToExecutionChange {
	c := BLSToExecutionChange{
		ValidatorIndex:     o.u64("validator_index"),
		FromBLSPubkey:      o.b48("from_bls_pubkey"),
		ToExecutionAddress: o.b20("to_execution_address"),
	}
	o.done()
	return c
}

// SignedBLSToExecutionChange is capella SignedBLSToExecutionChange.
type SignedBLSToExecutionChange struct {
	Message   BLSToExecutionChange
	Signature [96]byte
}

func (s SignedBLSToExecutionChange) HashTreeRoot() [32]byte {
	return container(s.Message.HashTreeRoot(), bytesRoot(s.Signature[:]))
}

func decSignedBLSToExecutionChange(o *obj) SignedBLSToExecutionChange {
	s := SignedBLSToExecutionChange{Message: decBLSToExecutionChange(o.obj("message")), Signature: o.b96("signature")}
	o.done()
	return s
}

// ExecutionPayload is the execution payload of Bellatrix, Capella (adds
// withdrawals) and Deneb/Electra/Fulu (add blob gas fields).
type ExecutionPayload struct {
	Fork          Fork
	ParentHash    [32]byte
	FeeRecipient  [20]byte
	StateRoot     [32]byte
	ReceiptsRoot  [32]byte
	LogsBloom     [bytesPerLogsBloom]byte
	PrevRandao    [32]byte
	BlockNumber   uint64
	GasLimit      uint64
	GasUsed       uint64
	Timestamp     uint64
	ExtraData     []byte
	BaseFeePerGas [32]byte // uint256, little-endian
	BlockHash     [32]byte
	Transactions  [][]byte
	Withdrawals   []Withdrawal // Capella+
	BlobGasUsed   uint64       // Deneb+
	ExcessBlobGas uint64       // Deneb+
}

func (p ExecutionPayload) HashTreeRoot() [32]byte {
	txs := make([][32]byte, len(p.Transactions))
	for i, t := range p.Transactions {
		txs[i] = byteListRoot(t, maxBytesPerTransaction)
	}
	f := [][32]byte{
		p.ParentHash, bytesRoot(p.FeeRecipient[:]), p.StateRoot, p.ReceiptsRoot, bytesRoot(p.LogsBloom[:]),
		p.PrevRandao, uint64Root(p.BlockNumber), uint64Root(p.GasLimit), uint64Root(p.GasUsed),
		uint64Root(p.Timestamp), byteListRoot(p.ExtraData, maxExtraDataBytes), uint256Root(p.BaseFeePerGas),
		p.BlockHash, listRoot(txs, maxTransactionsPerPayload),
	}
	if p.Fork >= Capella {
		ws := make([][32]byte, len(p.Withdrawals))
		for i, w := range p.Withdrawals {
			ws[i] = w.HashTreeRoot()
		}
		f = append(f, listRoot(ws, maxWithdrawalsPerPayload))
	}
	if p.Fork >= Deneb {
		f = append(f, uint64Root(p.BlobGasUsed), uint64Root(p.ExcessBlobGas))
	}
	return container(f...)
}

func decExecutionPayload(o *obj, fork Fork) ExecutionPayload {
	p := ExecutionPayload{Fork: fork}
	p.ParentHash = o.b32("parent_hash")
	p.FeeRecipient = o.b20("fee_recipient")
	p.StateRoot = o.b32("state_root")
	p.ReceiptsRoot = o.b32("receipts_root")
	o.fixed("logs_bloom", p.LogsBloom[:])
	p.PrevRandao = o.b32("prev_randao")
	p.BlockNumber = o.u64("block_number")
	p.GasLimit = o.u64("gas_limit")
	p.GasUsed = o.u64("gas_used")
	p.Timestamp = o.u64("timestamp")
	p.ExtraData = o.varBytes("extra_data", maxExtraDataBytes)
	p.BaseFeePerGas = o.u256("base_fee_per_gas")
	p.BlockHash = o.b32("block_hash")
	path := join(o.path, "transactions")
	for i, v := range o.list("transactions", maxTransactionsPerPayload) {
		t := o.d.hexBytes(idx(path, i), v, maxBytesPerTransaction)
		if t == nil {
			t = []byte{}
		}
		p.Transactions = append(p.Transactions, t)
	}
	if fork >= Capella {
		path := join(o.path, "withdrawals")
		for i, v := range o.list("withdrawals", maxWithdrawalsPerPayload) {
			p.Withdrawals = append(p.Withdrawals, decWithdrawal(o.d.asObj(idx(path, i), v)))
		}
	}
	if fork >= Deneb {
		p.BlobGasUsed = o.u64("blob_gas_used")
		p.ExcessBlobGas = o.u64("excess_blob_gas")
	}
	o.done()
	return p
}

// DepositRequest, WithdrawalRequest and ConsolidationRequest are Electra's
// execution-layer requests.
type DepositRequest struct {
	Pubkey                [48]byte
	WithdrawalCredentials [32]byte
	Amount                uint64
	Signature             [96]byte
	Index                 uint64
}

func (d DepositRequest) HashTreeRoot() [32]byte {
	return container(bytesRoot(d.Pubkey[:]), d.WithdrawalCredentials, uint64Root(d.Amount),
		bytesRoot(d.Signature[:]), uint64Root(d.Index))
}

type WithdrawalRequest struct {
	SourceAddress   [20]byte
	ValidatorPubkey [48]byte
	Amount          uint64
}

func (w WithdrawalRequest) HashTreeRoot() [32]byte {
	return container(bytesRoot(w.SourceAddress[:]), bytesRoot(w.ValidatorPubkey[:]), uint64Root(w.Amount))
}

type ConsolidationRequest struct {
	SourceAddress [20]byte
	SourcePubkey  [48]byte
	TargetPubkey  [48]byte
}

func (c ConsolidationRequest) HashTreeRoot() [32]byte {
	return container(bytesRoot(c.SourceAddress[:]), bytesRoot(c.SourcePubkey[:]), bytesRoot(c.TargetPubkey[:]))
}

// ExecutionRequests is Electra ExecutionRequests.
type ExecutionRequests struct {
	Deposits       []DepositRequest
	Withdrawals    []WithdrawalRequest
	Consolidations []ConsolidationRequest
}

func (e ExecutionRequests) HashTreeRoot() [32]byte {
	d := make([][32]byte, len(e.Deposits))
	for i, x := range e.Deposits {
		d[i] = x.HashTreeRoot()
	}
	w := make([][32]byte, len(e.Withdrawals))
	for i, x := range e.Withdrawals {
		w[i] = x.HashTreeRoot()
	}
	c := make([][32]byte, len(e.Consolidations))
	for i, x := range e.Consolidations {
		c[i] = x.HashTreeRoot()
	}
	return container(listRoot(d, maxDepositRequestsPerPayload), listRoot(w, maxWithdrawalRequestsPerPayload),
		listRoot(c, maxConsolidationRequests))
}

func decExecutionRequests(o *obj) ExecutionRequests {
	var e ExecutionRequests
	path := join(o.path, "deposits")
	for i, v := range o.list("deposits", maxDepositRequestsPerPayload) {
		x := o.d.asObj(idx(path, i), v)
		e.Deposits = append(e.Deposits, DepositRequest{Pubkey: x.b48("pubkey"), WithdrawalCredentials: x.b32("withdrawal_credentials"),
			Amount: x.u64("amount"), Signature: x.b96("signature"), Index: x.u64("index")})
		x.done()
	}
	path = join(o.path, "withdrawals")
	for i, v := range o.list("withdrawals", maxWithdrawalRequestsPerPayload) {
		x := o.d.asObj(idx(path, i), v)
		e.Withdrawals = append(e.Withdrawals, WithdrawalRequest{SourceAddress: x.b20("source_address"),
			ValidatorPubkey: x.b48("validator_pubkey"), Amount: x.u64("amount")})
		x.done()
	}
	path = join(o.path, "consolidations")
	for i, v := range o.list("consolidations", maxConsolidationRequests) {
		x := o.d.asObj(idx(path, i), v)
		e.Consolidations = append(e.Consolidations, ConsolidationRequest{SourceAddress: x.b20("source_address"),
			SourcePubkey: x.b48("source_pubkey"), TargetPubkey: x.b48("target_pubkey")})
		x.done()
	}
	o.done()
	return e
}

// BeaconBlockBody is the block body of every fork from Phase0 to Fulu; the
// fields a fork does not have are empty and not hashed.
type BeaconBlockBody struct {
	Fork                  Fork
	RandaoReveal          [96]byte
	Eth1Data              Eth1Data
	Graffiti              [32]byte
	ProposerSlashings     []ProposerSlashing
	AttesterSlashings     []AttesterSlashing
	Attestations          []Attestation
	Deposits              []Deposit
	VoluntaryExits        []SignedVoluntaryExit
	SyncAggregate         SyncAggregate                // Altair+
	ExecutionPayload      ExecutionPayload             // Bellatrix+
	BLSToExecutionChanges []SignedBLSToExecutionChange // Capella+
	BlobKZGCommitments    [][48]byte                   // Deneb+
	ExecutionRequests     ExecutionRequests            // Electra+
}

func rootsOf[T interface{ HashTreeRoot() [32]byte }](xs []T) [][32]byte {
	out := make([][32]byte, len(xs))
	for i, x := range xs {
		out[i] = x.HashTreeRoot()
	}
	return out
}

func (b BeaconBlockBody) HashTreeRoot() [32]byte {
	maxAS, maxAtt := uint64(maxAttesterSlashings), uint64(maxAttestations)
	if b.Fork >= Electra {
		maxAS, maxAtt = maxAttesterSlashingsElectra, maxAttestationsElectra
	}
	f := [][32]byte{
		bytesRoot(b.RandaoReveal[:]), b.Eth1Data.HashTreeRoot(), b.Graffiti,
		listRoot(rootsOf(b.ProposerSlashings), maxProposerSlashings),
		listRoot(rootsOf(b.AttesterSlashings), maxAS),
		listRoot(rootsOf(b.Attestations), maxAtt),
		listRoot(rootsOf(b.Deposits), maxDeposits),
		listRoot(rootsOf(b.VoluntaryExits), maxVoluntaryExits),
	}
	if b.Fork >= Altair {
		f = append(f, b.SyncAggregate.HashTreeRoot())
	}
	if b.Fork >= Bellatrix {
		f = append(f, b.ExecutionPayload.HashTreeRoot())
	}
	if b.Fork >= Capella {
		f = append(f, listRoot(rootsOf(b.BLSToExecutionChanges), maxBLSToExecutionChanges))
	}
	if b.Fork >= Deneb {
		c := make([][32]byte, len(b.BlobKZGCommitments))
		for i, k := range b.BlobKZGCommitments {
			c[i] = bytesRoot(k[:])
		}
		f = append(f, listRoot(c, maxBlobCommitmentsPerBlock))
	}
	if b.Fork >= Electra {
		f = append(f, b.ExecutionRequests.HashTreeRoot())
	}
	return container(f...)
}

func decBeaconBlockBody(o *obj, fork Fork) BeaconBlockBody {
	b := BeaconBlockBody{Fork: fork}
	electra := fork >= Electra
	maxAS, maxAtt := uint64(maxAttesterSlashings), uint64(maxAttestations)
	if electra {
		maxAS, maxAtt = maxAttesterSlashingsElectra, maxAttestationsElectra
	}
	b.RandaoReveal = o.b96("randao_reveal")
	b.Eth1Data = decEth1Data(o.obj("eth1_data"))
	b.Graffiti = o.b32("graffiti")
	p := join(o.path, "proposer_slashings")
	for i, v := range o.list("proposer_slashings", maxProposerSlashings) {
		b.ProposerSlashings = append(b.ProposerSlashings, decProposerSlashing(o.d.asObj(idx(p, i), v)))
	}
	p = join(o.path, "attester_slashings")
	for i, v := range o.list("attester_slashings", maxAS) {
		b.AttesterSlashings = append(b.AttesterSlashings, decAttesterSlashing(o.d.asObj(idx(p, i), v), electra))
	}
	p = join(o.path, "attestations")
	for i, v := range o.list("attestations", maxAtt) {
		b.Attestations = append(b.Attestations, decAttestation(o.d.asObj(idx(p, i), v), electra))
	}
	p = join(o.path, "deposits")
	for i, v := range o.list("deposits", maxDeposits) {
		b.Deposits = append(b.Deposits, decDeposit(o.d.asObj(idx(p, i), v)))
	}
	p = join(o.path, "voluntary_exits")
	for i, v := range o.list("voluntary_exits", maxVoluntaryExits) {
		b.VoluntaryExits = append(b.VoluntaryExits, decSignedVoluntaryExit(o.d.asObj(idx(p, i), v)))
	}
	if fork >= Altair {
		b.SyncAggregate = decSyncAggregate(o.obj("sync_aggregate"))
	}
	if fork >= Bellatrix {
		b.ExecutionPayload = decExecutionPayload(o.obj("execution_payload"), fork)
	}
	if fork >= Capella {
		p = join(o.path, "bls_to_execution_changes")
		for i, v := range o.list("bls_to_execution_changes", maxBLSToExecutionChanges) {
			b.BLSToExecutionChanges = append(b.BLSToExecutionChanges, decSignedBLSToExecutionChange(o.d.asObj(idx(p, i), v)))
		}
	}
	if fork >= Deneb {
		p = join(o.path, "blob_kzg_commitments")
		for i, v := range o.list("blob_kzg_commitments", maxBlobCommitmentsPerBlock) {
			var k [48]byte
			o.d.fixed(idx(p, i), v, k[:])
			b.BlobKZGCommitments = append(b.BlobKZGCommitments, k)
		}
	}
	if fork >= Electra {
		b.ExecutionRequests = decExecutionRequests(o.obj("execution_requests"))
	}
	o.done()
	return b
}

// BeaconBlock is a full block of any fork.
type BeaconBlock struct {
	Slot          uint64
	ProposerIndex uint64
	ParentRoot    [32]byte
	StateRoot     [32]byte
	Body          BeaconBlockBody
}

// Header is the block's BeaconBlockHeader; it has the block's root.
func (b BeaconBlock) Header() BeaconBlockHeader {
	return BeaconBlockHeader{Slot: b.Slot, ProposerIndex: b.ProposerIndex, ParentRoot: b.ParentRoot,
		StateRoot: b.StateRoot, BodyRoot: b.Body.HashTreeRoot()}
}

func (b BeaconBlock) HashTreeRoot() [32]byte { return b.Header().HashTreeRoot() }

func decBeaconBlock(o *obj, fork Fork) BeaconBlock {
	b := BeaconBlock{
		Slot:          o.u64("slot"),
		ProposerIndex: o.u64("proposer_index"),
		ParentRoot:    o.b32("parent_root"),
		StateRoot:     o.b32("state_root"),
	}
	b.Body = decBeaconBlockBody(o.obj("body"), fork)
	o.done()
	return b
}

// AggregateAndProof is phase0 AggregateAndProof (Electra: Electra attestation).
type AggregateAndProof struct {
	AggregatorIndex uint64
	Aggregate       Attestation
	SelectionProof  [96]byte
}

func (a AggregateAndProof) HashTreeRoot() [32]byte {
	return container(uint64Root(a.AggregatorIndex), a.Aggregate.HashTreeRoot(), bytesRoot(a.SelectionProof[:]))
}

func decAggregateAndProof(o *obj, electra bool) AggregateAndProof {
	a := AggregateAndProof{AggregatorIndex: o.u64("aggregator_index")}
	a.Aggregate = decAttestation(o.obj("aggregate"), electra)
	a.SelectionProof = o.b96("selection_proof")
	o.done()
	return a
}

// SyncAggregatorSelectionData is altair SyncAggregatorSelectionData.
type SyncAggregatorSelectionData struct {
	Slot              uint64
	SubcommitteeIndex uint64
}

func (s SyncAggregatorSelectionData) HashTreeRoot() [32]byte {
	return container(uint64Root(s.Slot), uint64Root(s.SubcommitteeIndex))
}

// SyncCommitteeContribution is altair SyncCommitteeContribution.
type SyncCommitteeContribution struct {
	Slot              uint64
	BeaconBlockRoot   [32]byte
	SubcommitteeIndex uint64
	AggregationBits   [syncCommitteeSize / syncCommitteeSubnetCount / 8]byte
	Signature         [96]byte
}

func (c SyncCommitteeContribution) HashTreeRoot() [32]byte {
	return container(uint64Root(c.Slot), c.BeaconBlockRoot, uint64Root(c.SubcommitteeIndex),
		bitvectorRoot(c.AggregationBits[:]), bytesRoot(c.Signature[:]))
}

// ContributionAndProof is altair ContributionAndProof.
type ContributionAndProof struct {
	AggregatorIndex uint64
	Contribution    SyncCommitteeContribution
	SelectionProof  [96]byte
}

func (c ContributionAndProof) HashTreeRoot() [32]byte {
	return container(uint64Root(c.AggregatorIndex), c.Contribution.HashTreeRoot(), bytesRoot(c.SelectionProof[:]))
}

func decContributionAndProof(o *obj) ContributionAndProof {
	c := ContributionAndProof{AggregatorIndex: o.u64("aggregator_index"), SelectionProof: o.b96("selection_proof")}
	x := o.obj("contribution")
	c.Contribution.Slot = x.u64("slot")
	c.Contribution.BeaconBlockRoot = x.b32("beacon_block_root")
	c.Contribution.SubcommitteeIndex = x.u64("subcommittee_index")
	x.fixed("aggregation_bits", c.Contribution.AggregationBits[:])
	c.Contribution.Signature = x.b96("signature")
	x.done()
	o.done()
	return c
}

// ValidatorRegistration is the builder-specs ValidatorRegistrationV1.
type ValidatorRegistration struct {
	FeeRecipient [20]byte
	GasLimit     uint64
	Timestamp    uint64
	Pubkey       [48]byte
}

func (v ValidatorRegistration) HashTreeRoot() [32]byte {
	return container(bytesRoot(v.FeeRecipient[:]), uint64Root(v.GasLimit), uint64Root(v.Timestamp), bytesRoot(v.Pubkey[:]))
}

// ForkData is phase0 ForkData.
func forkDataRoot(version [4]byte, gvr [32]byte) [32]byte {
	return container(bytesRoot(version[:]), gvr)
}

// ComputeDomain is compute_domain(domain_type, fork_version, genesis_validators_root).
func ComputeDomain(domainType [4]byte, version [4]byte, gvr [32]byte) [32]byte {
	var d [32]byte
	copy(d[:4], domainType[:])
	r := forkDataRoot(version, gvr)
	copy(d[4:], r[:28])
	return d
}

// ComputeSigningRoot is compute_signing_root: hash_tree_root(SigningData(object_root, domain)).
func ComputeSigningRoot(objectRoot, domain [32]byte) [32]byte { return container(objectRoot, domain) }
