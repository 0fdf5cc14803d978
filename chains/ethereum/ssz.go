package ethereum

import (
	"crypto/sha256"
	"encoding/binary"
)

// This file holds the few SSZ hash_tree_root computations the payloads need
// (consensus-specs ssz/simple-serialize.md "Merkleization"). Every container
// here has at most four fields and every field fits in at most three chunks,
// so the general algorithm reduces to small fixed trees, written out below.

// Domain types (phase0/beacon-chain.md "Domain types"; capella/beacon-chain.md).
var (
	DomainDeposit              = DomainType{0x03, 0x00, 0x00, 0x00}
	DomainVoluntaryExit        = DomainType{0x04, 0x00, 0x00, 0x00}
	DomainBLSToExecutionChange = DomainType{0x0a, 0x00, 0x00, 0x00}
	DomainBeaconProposer       = DomainType{0x00, 0x00, 0x00, 0x00}
	DomainBeaconAttester       = DomainType{0x01, 0x00, 0x00, 0x00}
	DomainRandao               = DomainType{0x02, 0x00, 0x00, 0x00}
	DomainSelectionProof       = DomainType{0x05, 0x00, 0x00, 0x00}
	DomainAggregateAndProof    = DomainType{0x06, 0x00, 0x00, 0x00}
	DomainApplicationMask      = DomainType{0x00, 0x00, 0x00, 0x01}
)

// hashPair is SSZ "hash(a + b)" of two chunks.
func hashPair(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// merkleize4 is SSZ merkleize of up to four chunks (missing ones are zero
// chunks, "padded to next_pow_of_two").
func merkleize4(c0, c1, c2, c3 [32]byte) [32]byte {
	return hashPair(hashPair(c0, c1), hashPair(c2, c3))
}

// uint64Chunk packs a uint64 as an SSZ basic value: little-endian, right
// padded to one chunk.
func uint64Chunk(v uint64) [32]byte {
	var c [32]byte
	binary.LittleEndian.PutUint64(c[:8], v)
	return c
}

// bytesChunk packs a byte vector of at most 32 bytes into one chunk (right
// padded with zeros); hash_tree_root of such a vector is this chunk.
func bytesChunk(b []byte) [32]byte {
	var c [32]byte
	copy(c[:], b)
	return c
}

// pubkeyRoot is hash_tree_root(BLSPubkey): Bytes48 packs into two chunks.
func pubkeyRoot(p Pubkey) [32]byte {
	return hashPair(bytesChunk(p[:32]), bytesChunk(p[32:]))
}

// signatureRoot is hash_tree_root(BLSSignature): Bytes96 packs into three
// chunks, padded to four.
func signatureRoot(s Signature) [32]byte {
	return merkleize4(bytesChunk(s[:32]), bytesChunk(s[32:64]), bytesChunk(s[64:]), [32]byte{})
}

// DepositMessage is the phase0 container signed by a deposit
// (phase0/beacon-chain.md "DepositMessage").
type DepositMessage struct {
	Pubkey                Pubkey
	WithdrawalCredentials Credentials
	Amount                uint64 // Gwei
}

// HashTreeRoot returns hash_tree_root(DepositMessage): three fields, padded
// to four leaves.
func (m DepositMessage) HashTreeRoot() Root {
	return merkleize4(pubkeyRoot(m.Pubkey), m.WithdrawalCredentials, uint64Chunk(m.Amount), [32]byte{})
}

// DepositData is the phase0 container passed to the deposit contract
// (phase0/beacon-chain.md "DepositData").
type DepositData struct {
	Pubkey                Pubkey
	WithdrawalCredentials Credentials
	Amount                uint64 // Gwei
	Signature             Signature
}

// HashTreeRoot returns hash_tree_root(DepositData), the deposit_data_root
// argument of the deposit contract's deposit() call.
func (d DepositData) HashTreeRoot() Root {
	return merkleize4(pubkeyRoot(d.Pubkey), d.WithdrawalCredentials, uint64Chunk(d.Amount), signatureRoot(d.Signature))
}

// Message returns the DepositMessage that d's signature covers.
func (d DepositData) Message() DepositMessage {
	return DepositMessage{Pubkey: d.Pubkey, WithdrawalCredentials: d.WithdrawalCredentials, Amount: d.Amount}
}

// VoluntaryExit is the phase0 container of an exit request
// (phase0/beacon-chain.md "VoluntaryExit"). JSON is the beacon-API form.
type VoluntaryExit struct {
	Epoch          Uint64 `json:"epoch"` // minimum epoch for processing the exit
	ValidatorIndex Uint64 `json:"validator_index"`
}

// HashTreeRoot returns hash_tree_root(VoluntaryExit): two uint64 leaves.
func (e VoluntaryExit) HashTreeRoot() Root {
	return hashPair(uint64Chunk(uint64(e.Epoch)), uint64Chunk(uint64(e.ValidatorIndex)))
}

// BLSToExecutionChange is the capella container that moves a validator's
// withdrawal credentials from 0x00 to 0x01 (capella/beacon-chain.md
// "BLSToExecutionChange"). JSON is the beacon-API form.
type BLSToExecutionChange struct {
	ValidatorIndex     Uint64           `json:"validator_index"`
	FromBLSPubkey      Pubkey           `json:"from_bls_pubkey"`
	ToExecutionAddress ExecutionAddress `json:"to_execution_address"`
}

// HashTreeRoot returns hash_tree_root(BLSToExecutionChange): three fields,
// padded to four leaves; the 20-byte address packs into one chunk.
func (c BLSToExecutionChange) HashTreeRoot() Root {
	return merkleize4(uint64Chunk(uint64(c.ValidatorIndex)), pubkeyRoot(c.FromBLSPubkey), bytesChunk(c.ToExecutionAddress[:]), [32]byte{})
}

// ComputeForkDataRoot is phase0 compute_fork_data_root:
// hash_tree_root(ForkData(current_version, genesis_validators_root)).
func ComputeForkDataRoot(currentVersion Version, genesisValidatorsRoot Root) Root {
	return hashPair(bytesChunk(currentVersion[:]), genesisValidatorsRoot)
}

// ComputeDomain is phase0 compute_domain:
// domain_type + fork_data_root[:28].
func ComputeDomain(domainType DomainType, forkVersion Version, genesisValidatorsRoot Root) Domain {
	forkDataRoot := ComputeForkDataRoot(forkVersion, genesisValidatorsRoot)
	var d Domain
	copy(d[:4], domainType[:])
	copy(d[4:], forkDataRoot[:28])
	return d
}

// ComputeSigningRoot is phase0 compute_signing_root:
// hash_tree_root(SigningData(object_root, domain)).
func ComputeSigningRoot(objectRoot Root, domain Domain) Root {
	return hashPair(objectRoot, domain)
}
