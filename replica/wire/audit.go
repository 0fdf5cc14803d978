package wire

// Audit (issue 14): every replica appends each request it served to a hash
// chain of [AuditRecord]s and commits the chain's head through the log at
// least once per second (a replica transaction of kind "audit"). The chains
// are read with OpAuditRecords (each replica answers with its own records)
// and checked against the committed heads read with OpAuditHeads.
// Answers carry hashes and identifiers only, never a secret, so they are
// not sealed.
const (
	// OpAuditRecords reads the answering replica's own audit records
	// ([AuditRecordsBody]); admin clients only, because the records are
	// metadata about every client's use of the HSM.
	OpAuditRecords = "audit.records"
	// OpAuditHeads reads the audit-chain heads a replica committed through
	// the log ([AuditHeadsBody]), from committed state.
	OpAuditHeads = "audit.heads"
)

// MaxAuditLimit bounds the records or heads of one audit answer.
const MaxAuditLimit = 1000

// AuditRecordsBody selects records of the answering replica's chain. The
// filters are local to that replica: records are not ordered across
// replicas. Zero values select everything.
type AuditRecordsBody struct {
	// Since keeps records served at or after this Unix time in milliseconds.
	Since int64 `json:"since,omitempty"`
	// KeyID keeps records naming this key.
	KeyID string `json:"key_id,omitempty"`
	// After keeps records whose sequence number is greater (paging).
	After uint64 `json:"after,omitempty"`
	// Limit bounds the answer (1..MaxAuditLimit; 0 means MaxAuditLimit).
	Limit int `json:"limit,omitempty"`
}

// AuditHeadsBody selects the committed heads of one replica's chain.
type AuditHeadsBody struct {
	// Replica is the 1-based index of the replica whose heads are read.
	Replica int `json:"replica"`
	// After keeps heads whose sequence number is greater (paging).
	After uint64 `json:"after,omitempty"`
	// Limit bounds the answer (1..MaxAuditLimit; 0 means MaxAuditLimit).
	Limit int `json:"limit,omitempty"`
}

// AuditRecord is one served request in a replica's audit chain. Its
// canonical binary encoding, and the head hash chaining it, are defined in
// replica/audit.
type AuditRecord struct {
	Seq  uint64 `json:"seq"`  // 1, 2, … in the replica's chain
	Prev []byte `json:"prev"` // head of the chain before this record (32 bytes; zero for seq 1)
	Time int64  `json:"time"` // when the replica answered, Unix milliseconds
	// Client, KeyID and Op describe the request (KeyID empty when the
	// operation names no key).
	Client string `json:"client"`
	KeyID  string `json:"key_id,omitempty"`
	Op     string `json:"op"`
	// Message is SHA-256 of the message signed (sign) or of the DPRF input
	// (encrypt, decrypt); empty for other operations.
	Message []byte `json:"message,omitempty"`
	// Request is RequestHash of the signed request bytes.
	Request []byte `json:"request"`
	// Result is SHA-256 of the JSON Response the replica returned.
	Result []byte `json:"result"`
}

// AuditHead is a head of a replica's audit chain as committed in the log.
type AuditHead struct {
	Replica int    `json:"replica"`
	Seq     uint64 `json:"seq"`
	Head    []byte `json:"head"`   // 32 bytes
	Height  int64  `json:"height"` // block that committed it
}

// AuditAnswer is the audit part of a [Response].
type AuditAnswer struct {
	// Records answers OpAuditRecords, in the replica's chain order.
	Records []AuditRecord `json:"records,omitempty"`
	// Last is the answering replica's last sequence number (OpAuditRecords).
	Last uint64 `json:"last,omitempty"`
	// Heads answers OpAuditHeads, by increasing sequence number.
	Heads []AuditHead `json:"heads,omitempty"`
}
