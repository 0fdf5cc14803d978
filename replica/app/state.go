package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
	bolt "go.etcd.io/bbolt"
)

// Status is the lifecycle state of a DKG session, a pool item or a nonce.
type Status string

const (
	// StatusOpen: a DKG session is collecting its transcript.
	StatusOpen Status = "open"
	// StatusDone: a DKG session completed; its slots became pool items.
	StatusDone Status = "done"
	// StatusFailed: a DKG session failed to qualify t+1 dealers (more than f
	// faulty replicas); a new session of its kind is opened.
	StatusFailed Status = "failed"
	// StatusAvailable: a pool item (a key or a nonce) waits to be handed out.
	StatusAvailable Status = "available"
	// StatusAssigned: a pool item was handed out by a committed request (a
	// key to keys.gen, a nonce to one sign); it is never handed out again.
	StatusAssigned Status = "assigned"
)

// transitions is the one table of valid status changes.
var transitions = map[Status][]Status{
	StatusOpen:      {StatusDone, StatusFailed},
	StatusAvailable: {StatusAssigned},
}

// transition checks that from → to is allowed.
func transition(from, to Status) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("app: invalid status transition %s -> %s", from, to)
}

// Pool kinds. A key kind equals the wire scheme it serves.
const (
	KindSchnorr   = wire.SchemeSchnorr
	KindBLS       = wire.SchemeBLS
	KindSymmetric = wire.SchemeSymmetric
	// KindNonce names the jointly dealt Schnorr nonce sessions of round 1.
	// No new one is opened (signing is FROST off the log, with each
	// replica's own nonces: replica/engine nonces.go); the sessions of an
	// existing log still replay.
	KindNonce = "nonce"
)

// Kinds lists the pool kinds refilled, in their fixed order.
var Kinds = []string{KindSchnorr, KindBLS, KindSymmetric}

// SessionInfo is the committed record of a DKG session.
type SessionInfo struct {
	Name   string `json:"name"` // "<kind>-<seq>", unique
	Kind   string `json:"kind"`
	Batch  int    `json:"batch"`
	Status Status `json:"status"`
	Count  int    `json:"count"` // transcript messages so far
	// Sent[j-1] counts replica j's messages, capped at MaxMessagesPerReplica.
	Sent   []int `json:"sent,omitempty"`
	Opened int64 `json:"opened"` // height
	// Phase is the DKG phase after the last message (0 before the first),
	// and Seen[j-1] the messages of replica j the session took (seen* bits);
	// with them sessionAccepts refuses what the session would ignore.
	Phase dkg.Status `json:"phase,omitempty"`
	Seen  []int      `json:"seen,omitempty"`
}

// MaxMessagesPerReplica bounds one replica's messages in one session. The
// rules of sessionAccepts admit at most four (a dealing, a response, a
// timeout vote per phase); the cap bounds sessions recorded before those
// rules and any message kind they do not cover.
const MaxMessagesPerReplica = 16

// TranscriptEntry is one DKG message of a session, in log order.
type TranscriptEntry struct {
	Sender  int    `json:"sender"`
	Message []byte `json:"message"`
}

// PoolItem is one pre-generated key or nonce: slot Slot of session Session.
// A nonce is a pair (D, E) of DKG outputs for threshold/schnorr's nonce
// binding (FROST-style, against the ROS attack): D is slot Slot, E slot
// BindingSlot of the same session.
type PoolItem struct {
	Kind       string `json:"kind"`
	Session    string `json:"session"`
	Slot       int    `json:"slot"`
	PublicKey  []byte `json:"public_key"` // group key, compressed
	Commitment []byte `json:"commitment"` // summed Feldman commitment (vss encoding)
	// BindingSlot, BindingKey and BindingCommitment describe E for a nonce.
	BindingSlot       int    `json:"binding_slot,omitempty"`
	BindingKey        []byte `json:"binding_key,omitempty"`
	BindingCommitment []byte `json:"binding_commitment,omitempty"`
	Status            Status `json:"status"`
	// Request is the "client/id" of the request it was assigned to.
	Request string `json:"request,omitempty"`
}

// KeyRecord is a key in the committed state.
type KeyRecord struct {
	Info   wire.KeyInfo `json:"info"`
	Grants []string     `json:"grants,omitempty"` // sorted client ids
	Origin PoolItem     `json:"origin"`           // where its shares come from
}

// Result is the outcome of a committed client request, the same at every
// replica.
type Result struct {
	// Request is the request's hash (wire.RequestHash of its signed bytes):
	// the result answers exactly these bytes and no other request that
	// reuses the id.
	Request []byte                   `json:"request"`
	Code    uint32                   `json:"code"` // 0 on success
	Error   string                   `json:"error,omitempty"`
	Height  int64                    `json:"height"`
	Op      string                   `json:"op"`
	Key     *wire.KeyInfo            `json:"key,omitempty"`
	Origin  *PoolItem                `json:"origin,omitempty"` // the key's shares (keys.gen)
	Client  *wire.RegisterClientBody `json:"client,omitempty"`
	// Eth2 is the decision of an ordered eth2.sign: what may be signed.
	Eth2 *Eth2Signed `json:"eth2,omitempty"`
	// Interchange is the EIP-3076 file of eth2.slashing.export.
	Interchange []byte `json:"interchange,omitempty"`
	// Items are the results of an eth2.batch's items, in order (each with
	// Request set to the item's wire.ItemHash).
	Items []Result `json:"items,omitempty"`
}

// requestRecord is stored under the request's (client, id) until it expires.
type requestRecord struct {
	Expires int64  `json:"expires"`
	Result  Result `json:"result"`
}

// poolMeta is a FIFO queue of pool items of one kind: items Head..Tail-1.
type poolMeta struct {
	Head uint64 `json:"head"`
	Tail uint64 `json:"tail"`
	Seq  uint64 `json:"seq"` // sessions opened so far
}

// Key layout of the state bucket.
const (
	pClient  = "client/"  // id → ClientInfo
	pKey     = "key/"     // id → KeyRecord
	pSession = "session/" // name → SessionInfo
	pTx      = "tx/"      // name/seq(8) → TranscriptEntry
	pPool    = "pool/"    // kind/seq(8) → PoolItem
	pPoolM   = "poolmeta/"
	pReq     = "req/"   // client/id → requestRecord
	pExp     = "exp/"   // expires(8)/client/id → empty
	pSlash   = "slash/" // genesis validators root(32) ‖ pubkey(48) → slashing.History (binary)
	kChain   = "meta/chain"
	kOpen    = "meta/open" // open session names, JSON
)

var (
	bucketState = []byte("state")
	bucketMeta  = []byte("meta") // height and app hash, not hashed
	keyHeight   = []byte("height")
	keyAppHash  = []byte("apphash")
	keyReported = []byte("reported") // app hash checkpoint ‖ its block time (8)
	keyGenesis  = []byte("genesis")
)

func u64(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return string(b[:])
}

// staged is one pending write.
type staged struct {
	val []byte
	del bool
}

// overlay stages writes over the committed bbolt state. It is used by one
// goroutine at a time.
type overlay struct {
	db     *bolt.DB
	writes map[string]staged
}

func newOverlay(db *bolt.DB) *overlay { return &overlay{db: db, writes: map[string]staged{}} }

func (o *overlay) get(k string) ([]byte, error) {
	if w, ok := o.writes[k]; ok {
		if w.del {
			return nil, nil
		}
		return w.val, nil
	}
	var v []byte
	err := o.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketState); b != nil {
			if x := b.Get([]byte(k)); x != nil {
				v = bytes.Clone(x)
			}
		}
		return nil
	})
	return v, err
}

// getJSON decodes key k into v; it reports false when absent.
func (o *overlay) getJSON(k string, v any) (bool, error) {
	b, err := o.get(k)
	if err != nil || b == nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("app: corrupt state at %q: %w", k, err)
	}
	return true, nil
}

func (o *overlay) put(k string, v []byte) { o.writes[k] = staged{val: v} }

func (o *overlay) putJSON(k string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("app: encode state: %w", err)
	}
	o.put(k, b)
	return nil
}

func (o *overlay) del(k string) { o.writes[k] = staged{del: true} }

// digest returns SHA-256 of the sorted writes (see the package doc), and
// whether there were any.
func (o *overlay) digest() ([]byte, bool) {
	if len(o.writes) == 0 {
		return nil, false
	}
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	var n [4]byte
	for _, k := range keys {
		w := o.writes[k]
		binary.BigEndian.PutUint32(n[:], uint32(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		if w.del {
			h.Write([]byte{0})
		} else {
			h.Write([]byte{1})
		}
		binary.BigEndian.PutUint32(n[:], uint32(len(w.val)))
		h.Write(n[:])
		h.Write(w.val)
	}
	return h.Sum(nil), true
}

// chainHash computes AppHash_h from the previous hash and a block digest.
func chainHash(prev, digest []byte) []byte {
	h := sha256.New()
	h.Write([]byte("vhsm/apphash/v1"))
	h.Write(prev)
	h.Write(digest)
	return h.Sum(nil)
}

// flush writes the staged set, height and app hash in one bbolt transaction.
func (o *overlay) flush(height int64, appHash []byte, extra map[string][]byte) error {
	return o.db.Update(func(tx *bolt.Tx) error {
		st, err := tx.CreateBucketIfNotExists(bucketState)
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		for k, w := range o.writes {
			if w.del {
				err = st.Delete([]byte(k))
			} else {
				err = st.Put([]byte(k), w.val)
			}
			if err != nil {
				return err
			}
		}
		if err := meta.Put(keyHeight, []byte(u64(uint64(height)))); err != nil {
			return err
		}
		if err := meta.Put(keyAppHash, appHash); err != nil {
			return err
		}
		for k, v := range extra {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan calls fn for every committed key with the prefix, in key order.
func scan(db *bolt.DB, prefix string, fn func(k, v []byte) error) error {
	return scanFrom(db, prefix, prefix, fn)
}

// scanFrom calls fn for every committed key with the prefix that is not
// below start, in key order.
func scanFrom(db *bolt.DB, prefix, start string, fn func(k, v []byte) error) error {
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

var errStop = errors.New("stop")
