// Package wire defines the messages exchanged between vhsm clients and
// replicas, and between replicas through the replicated log: the signed
// client request, its operation bodies, the replica-originated transactions,
// and the replica API's responses.
//
// # Signing
//
// A client request is the canonical JSON encoding of [Request], produced once
// by the client, and an Ed25519 signature over
//
//	"vhsm/request/v1\x00" ‖ request bytes
//
// The replica never re-encodes a request: it verifies the signature over the
// exact bytes it received, then decodes them strictly (unknown fields are an
// error). The same [SignedRequest] bytes are the CometBFT transaction for
// operations that are ordered, so every replica submitting the same request
// to its mempool yields one committed transaction.
//
// Replica-originated transactions ([ReplicaTx]) are signed the same way with
// the replica's Ed25519 key listed in the genesis, under the context
// "vhsm/replica-tx/v1\x00" followed by the cluster id.
//
// # Binding
//
// A request names its cluster ([Request.Cluster], the CometBFT chain id,
// random per cluster), so that it cannot be replayed into another cluster
// that shares client keys. Its hash ([RequestHash]) is what the log records
// with its result: an id reused for other bytes is refused, never answered.
//
// # Sealed answers
//
// Every answer that carries secret-derived material (a partial signature, a
// DPRF evaluation) is sealed with HPKE (RFC 9180: DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) to the ephemeral X25519 key
// the client put in its signed request ([Request.Reply]), with the request
// hash and the answering replica's index as associated data ([SealReply],
// [OpenReply]). A replica that replays a client's signed request to other
// replicas receives only ciphertexts for a key it does not hold.
//
// # Batches
//
// A client's signing, encryption and decryption requests in flight at one
// replica may travel as one [OpBatch] request addressed to that replica,
// answered item by item with the partial results sealed together (batch.go).
package wire

import (
	"crypto/sha256"
	"encoding/json"
)

// Signing contexts (domain separation for Ed25519 signatures).
const (
	RequestContext   = "vhsm/request/v1\x00"
	ReplicaTxContext = "vhsm/replica-tx/v1\x00"
)

// Schemes of keys.
const (
	SchemeSchnorr   = "schnorr"   // BIP-340 over secp256k1
	SchemeBLS       = "bls"       // Ethereum BLS12-381 (pk in G1, sig in G2)
	SchemeSymmetric = "symmetric" // DiSE over BLS12-381 G1
)

// Operations a client may request. Ordered operations go through the log;
// the others are answered from committed state without waiting for a block.
const (
	OpRegisterClient = "clients.register" // ordered, admin only
	OpKeyGen         = "keys.gen"         // ordered
	OpKeyDisable     = "keys.disable"     // ordered, owner or admin
	OpKeyGrant       = "keys.grant"       // ordered, owner only
	OpSign           = "sign"             // not ordered: FROST (schnorr) or a BLS partial
	OpNonces         = "nonces"           // not ordered: fresh FROST nonce commitments of one replica
	OpKeyList        = "keys.list"        // read
	OpKeyPub         = "keys.pub"         // read
	OpEncrypt        = "encrypt"          // DPRF evaluation, not ordered
	OpDecrypt        = "decrypt"          // DPRF evaluation, not ordered
	// OpKeyValidator marks an existing bls key as an Ethereum validator key,
	// for good (ordered, owner or admin): see [UsageEth2Validator].
	OpKeyValidator = "keys.validator"
	// OpEth2Sign signs one typed Ethereum remote-signing request with a
	// validator key ([Eth2SignBody]); the replicas compute the signing root
	// themselves. Block proposals and attestations are ordered (slashing
	// protection is decided by the log); every other type is not.
	OpEth2Sign = "eth2.sign"
	// OpSlashingImport merges an EIP-3076 interchange file into the
	// replicated slashing-protection state (ordered, admin only).
	OpSlashingImport = "eth2.slashing.import"
	// OpSlashingExport exports the slashing-protection state of one chain
	// as an EIP-3076 interchange file (ordered, admin only).
	OpSlashingExport = "eth2.slashing.export"
)

// UsageEth2Validator marks a bls key as an Ethereum validator key
// ([KeyInfo.Usage]). Such a key signs only typed requests ([OpEth2Sign]):
// every replica refuses raw message signing ([OpSign]) with it, so that no
// client can sign an attestation's or a block's root directly and skip the
// slashing protection. The mark is one-way.
const UsageEth2Validator = "eth2-validator"

// Limits enforced by replicas.
const (
	MaxRequestBytes = 64 << 10 // a signed request, encoded
	MaxMessageBytes = 16 << 10 // a message to sign or DiSE plaintext-commitment input
	MaxValidity     = 600      // seconds between a request's creation and its expiry
	MaxKeyIDLen     = 64       // key and client identifiers: [A-Za-z0-9._-]{1,64}
)

// Request is what a client asks of the HSM. Its JSON encoding is signed.
type Request struct {
	// ID is 16 random bytes, hex; unique per client for replay protection.
	ID string `json:"id"`
	// Client is the registered client identifier that signs the request.
	Client string `json:"client"`
	// Op is one of the Op* constants.
	Op string `json:"op"`
	// Expires is a Unix time in seconds; the request is rejected after it
	// (against block time in the log, against local time at admission) and
	// when it lies more than MaxValidity in the future.
	Expires int64 `json:"expires"`
	// Cluster is the id of the cluster the request is for (the CometBFT
	// chain id); a replica of any other cluster refuses it.
	Cluster string `json:"cluster"`
	// Reply is the client's ephemeral X25519 public key (32 bytes), fresh
	// for this request, to which every answer carrying secret-derived
	// material is sealed (see [SealReply]). Required for OpSign, OpEncrypt
	// and OpDecrypt.
	Reply []byte `json:"reply,omitempty"`
	// MinHeight is the lowest committed height a replica must have applied
	// before it answers an unordered request (the height of the last
	// ordered request this client saw committed: a key, grant or disable
	// the request depends on). A replica behind it waits, briefly, or
	// refuses.
	MinHeight int64 `json:"min_height,omitempty"`
	// Body is the operation's body (one of the *Body types), JSON.
	Body json.RawMessage `json:"body"`
}

// NeedsReply reports whether answers to op carry secret-derived material,
// so that the request must name a reply key and every answer is sealed.
func NeedsReply(op string) bool {
	return op == OpSign || op == OpEncrypt || op == OpDecrypt || op == OpEth2Sign || op == OpBatch || op == OpEth2Batch
}

// RequestHash is the hash that binds a request: SHA-256(RequestContext ‖
// request bytes), over the exact signed bytes.
func RequestHash(request []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(RequestContext))
	h.Write(request)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// SignedRequest is the transport form of a request: the exact request bytes
// and the client's Ed25519 signature over RequestContext ‖ Request.
type SignedRequest struct {
	Request   []byte `json:"request"`   // canonical JSON of Request (base64 in JSON)
	Signature []byte `json:"signature"` // 64 bytes
}

// RegisterClientBody registers (or replaces the key of) a client.
type RegisterClientBody struct {
	ClientID  string `json:"client_id"`
	PublicKey []byte `json:"public_key"` // Ed25519, 32 bytes
	Admin     bool   `json:"admin"`
}

// KeyGenBody asks for a new key, taken from the pre-generated pool.
type KeyGenBody struct {
	KeyID  string `json:"key_id"`
	Scheme string `json:"scheme"`
	// Usage, when set, marks the new key at creation; the only usage is
	// UsageEth2Validator, for bls keys.
	Usage string `json:"usage,omitempty"`
}

// Eth2SignBody asks for a signature over one typed Ethereum remote-signing
// request (the JSON body of POST /api/v1/eth2/sign/{identifier} of the
// remote-signing API, parsed by replica/eth2), with the validator key
// KeyID. The signing root is computed by every replica from Request.
type Eth2SignBody struct {
	KeyID   string          `json:"key_id"`
	Request json.RawMessage `json:"request"`
}

// SlashingImportBody carries an EIP-3076 interchange file (format version
// 5) to merge into the slashing-protection state of one chain.
type SlashingImportBody struct {
	// GenesisValidatorsRoot (32 bytes) names the chain the file must be
	// for: a file of another chain is refused.
	GenesisValidatorsRoot []byte          `json:"genesis_validators_root"`
	Interchange           json.RawMessage `json:"interchange"`
}

// SlashingExportBody asks for the interchange file of one chain: complete
// (every record kept, with signing roots) or minimal (per validator the
// highest slot, source and target).
type SlashingExportBody struct {
	GenesisValidatorsRoot []byte `json:"genesis_validators_root"` // 32 bytes
	Minimal               bool   `json:"minimal,omitempty"`
}

// KeyRefBody names one key (keys.pub, keys.disable).
type KeyRefBody struct {
	KeyID string `json:"key_id"`
}

// KeyGrantBody lets another client use a key.
type KeyGrantBody struct {
	KeyID    string `json:"key_id"`
	ClientID string `json:"client_id"`
}

// SignBody asks for a signature over Message.
type SignBody struct {
	KeyID   string `json:"key_id"`
	Message []byte `json:"message"`
	// Taproot, for schnorr keys, signs for the BIP-341 output key instead of
	// the internal key: nil means plain BIP-340; an empty MerkleRoot means
	// BIP-86 (key-path only).
	Taproot *TaprootOption `json:"taproot,omitempty"`
	// Path, for schnorr keys, signs for the BIP-32 unhardened child at this
	// path below the group key (threshold/bip32: K = P + t·G, chain code
	// from the key's commitment) instead of the group key itself; the
	// Taproot option then applies to K. Empty means the group key. At most
	// MaxPathDepth indices, each below 2^31.
	Path []uint32 `json:"path,omitempty"`
	// Signers, for schnorr keys, is the FROST signing session: the nonce
	// commitment of each chosen signer (at least t+1 replicas, distinct),
	// each handed out by that replica. Every signer binds its nonce to the
	// whole list and the message (RFC 9591 binding factors).
	Signers []SignerCommitment `json:"signers,omitempty"`
}

// MaxPathDepth bounds SignBody.Path: a wallet uses 2 (branch/index).
const MaxPathDepth = 8

// SignerCommitment is one signer's nonce commitment in a FROST session.
type SignerCommitment struct {
	Replica int    `json:"replica"` // the signer's 1-based index
	Nonce   []byte `json:"nonce"`   // the replica's reference of the nonce (NonceCommitment.Nonce)
	Hiding  []byte `json:"hiding"`  // D, 33-byte compressed point
	Binding []byte `json:"binding"` // E, 33-byte compressed point
}

// NoncesBody asks one replica for fresh nonce commitments.
type NoncesBody struct {
	Count int `json:"count"` // 1..MaxNonces
}

// MaxNonces bounds the commitments of one nonces request.
const MaxNonces = 64

// NonceCommitment is a replica's fresh FROST nonce commitment, handed to
// one client: the reference to name it by, and (D, E).
type NonceCommitment struct {
	Nonce   []byte `json:"nonce"`   // opaque reference: the replica's epoch and a counter
	Hiding  []byte `json:"hiding"`  // D = d·G, 33-byte compressed
	Binding []byte `json:"binding"` // E = e·G, 33-byte compressed
}

// TaprootOption selects the Taproot tweak.
type TaprootOption struct {
	MerkleRoot []byte `json:"merkle_root,omitempty"` // empty or 32 bytes
}

// EvalBody asks for a DiSE DPRF evaluation on Input (the DPRF input built by
// threshold/dise for an encryption or a decryption). For OpEncrypt the
// encryptor identity inside Input must be the requesting client.
type EvalBody struct {
	KeyID string `json:"key_id"`
	Input []byte `json:"input"`
	// NoProof asks for the evaluation without its DLEQ proof (a third of a
	// replica's work). The client then checks the evaluations otherwise: a
	// decryption checks its result (the commitment must reopen); an
	// encryption, whose output nothing else checks, takes 2t+1 evaluations
	// and uses them only if they lie on one polynomial of degree t
	// (dise.CombineConsistent). Either asks again with proofs if its check
	// fails, to find the wrong evaluation. An evaluation reveals the same
	// with its proof or without, so the replica serves both to anyone
	// authorized.
	NoProof bool `json:"no_proof,omitempty"`
}

// ReplicaTx is a transaction originated by a replica (DKG traffic).
type ReplicaTx struct {
	Replica   int    `json:"replica"`   // 1-based index in the genesis
	Kind      string `json:"kind"`      // "dkg"
	Payload   []byte `json:"payload"`   // e.g. threshold/dkg message bytes
	Signature []byte `json:"signature"` // Ed25519 over ReplicaTxContext ‖ Replica ‖ Kind ‖ Payload (see replica/app)
}

// Tx is the envelope of every transaction in the log: exactly one field set.
type Tx struct {
	Client  *SignedRequest `json:"client,omitempty"`
	Replica *ReplicaTx     `json:"replica,omitempty"`
}

// KeyInfo is the public description of a key.
type KeyInfo struct {
	KeyID  string `json:"key_id"`
	Scheme string `json:"scheme"`
	Owner  string `json:"owner"`
	// PublicKey: schnorr 32-byte x-only; bls 48-byte compressed G1;
	// symmetric 48-byte compressed G1 (the DPRF key's public commitment).
	PublicKey []byte `json:"public_key"`
	// Commitment is the key's summed Feldman commitment (canonical encoding
	// from threshold/vss), from which every verification key is computed.
	Commitment []byte `json:"commitment"`
	Disabled   bool   `json:"disabled,omitempty"`
	// Usage restricts what the key signs: "" (anything its scheme signs)
	// or UsageEth2Validator (typed Ethereum requests only).
	Usage string `json:"usage,omitempty"`
}

// Response is a replica's answer to a request.
type Response struct {
	Replica int    `json:"replica"` // 1-based index of the answering replica
	Height  int64  `json:"height,omitempty"`
	Error   string `json:"error,omitempty"`
	// Key is set for keys.gen and keys.pub; Keys for keys.list.
	Key  *KeyInfo  `json:"key,omitempty"`
	Keys []KeyInfo `json:"keys,omitempty"`
	// Partial is always empty in answers from replicas: a partial result is
	// carried sealed in Sealed. The client fills it in after opening.
	Partial []byte `json:"partial,omitempty"`
	// Sealed is this replica's partial result (a partial Schnorr or BLS
	// signature, or a DiSE evaluation with its DLEQ proof) sealed to the
	// request's reply key ([SealReply]).
	Sealed []byte `json:"sealed,omitempty"`
	// GroupCommitment is, in an answer to a schnorr sign, the x-only group
	// commitment R of the session as this replica computed it (32 bytes,
	// BIP-340 bytes(R); public: anyone with the session's commitments and
	// message can compute it). The client uses it as the signature's R
	// without computing R itself, and keeps the signature only if it
	// verifies; otherwise it computes R and checks every share.
	GroupCommitment []byte `json:"group_commitment,omitempty"`
	// Commitments are fresh nonce commitments of the answering replica,
	// for the requesting client only (answers to nonces, piggybacked on
	// answers to schnorr signs).
	Commitments []NonceCommitment `json:"commitments,omitempty"`
	// Interchange answers eth2.slashing.export: the EIP-3076 file.
	Interchange json.RawMessage `json:"interchange,omitempty"`
	// Audit answers the audit operations (audit.go).
	Audit *AuditAnswer `json:"audit,omitempty"`
	// Items answers a batch (batch.go), one per item in order: each with
	// Replica set and either Error or the item's public fields; their
	// partial results are in Sealed, together (a bundle).
	Items []Response `json:"items,omitempty"`
}

// EncryptorContext domain-separates the DiSE encryptor identity.
const EncryptorContext = "vhsm/dise/encryptor/v1\x00"

// EncryptorID is the DiSE encryptor identity j of a client, bound into every
// DPRF input it encrypts under: SHA-256(EncryptorContext ‖ clientID), all 256
// bits, so that no other client id can be found with the same identity.
// Replicas evaluate an encryption input only for the client whose identity
// it names, and a decryption input only when it names a client that may use
// the key.
func EncryptorID(clientID string) [32]byte {
	return sha256.Sum256(append([]byte(EncryptorContext), clientID...))
}
