package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
)

// # Batches
//
// A client with many requests in flight at one replica (a wallet service
// signing for many users at once) sends them as one [OpBatch] request: one
// id, one expiry, one min height, one reply key and one Ed25519 signature
// over all of them, addressed to exactly one replica ([BatchBody.Replica]).
// The replica answers every item on its own ([Response.Items]: an error, or
// the item's public fields) and seals the items' partial results together
// ([AppendBundle]), once, to the batch's reply key with [SealReply]: the
// batch's request hash and the replica's index are the associated data.
//
// What binds an item: the signed batch that carries it. An item has an id
// of its own, chosen by the client like a request's, which is the same in
// every batch the item is sent in (to the t+1 replicas first asked, and to
// others as a hedge); its hash ([ItemHash]: client, id, operation, body) is
// what every replica that served it records in its audit chain, so audits
// compare replicas item by item as they do requests. An item id is used
// once per client, like a request id: reused with other contents it is
// refused. The batch's id is admitted once (a replayed batch is refused
// whole, before any item runs), and a batch addressed to another replica is
// refused whole, so a replica that replays a client's batch to a fellow
// replica makes it do nothing (not even spend the FROST nonces the batch
// names). Only unordered operations that answer one partial result may be
// batched ([Batchable]); a batch never reaches the log.

// OpBatch carries several unordered requests of one client to one replica
// ([BatchBody]).
const OpBatch = "batch"

// MaxBatchItems bounds the items of one batch.
const MaxBatchItems = 64

// BatchBody is the body of an OpBatch request.
type BatchBody struct {
	// Replica is the 1-based index of the only replica that may answer.
	Replica int `json:"replica"`
	// Items are the requests, each with the operation and body it would
	// have as a request of its own; 1..MaxBatchItems.
	Items []BatchItem `json:"items"`
}

// BatchItem is one request of a batch.
type BatchItem struct {
	// ID is 16 random bytes, hex, as Request.ID: unique per client.
	ID   string          `json:"id"`
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
}

// Batchable reports whether op may be an item of a batch: the unordered
// operations whose answer is one sealed partial result (a FROST share or a
// BLS partial signature, a DPRF evaluation).
func Batchable(op string) bool {
	return op == OpSign || op == OpEncrypt || op == OpDecrypt
}

// # Ordered batches of typed Ethereum requests
//
// A validator client asks for many attestations (and now and then a block
// proposal) at the same moment of a slot. Each is ordered: the log decides
// it against the validator's slashing history. [OpEth2Batch] carries
// several of them, of one client, as ONE transaction of the log: one id,
// one expiry, one reply key and one Ed25519 signature over all of them.
// Unlike an [OpBatch] it names no replica: the log orders the same bytes
// for everyone, and every replica answers it from the committed result,
// each item's partial signature sealed, together with the others
// ([AppendBundle]), to the batch's reply key with the batch's request hash
// and the answering replica's index bound ([SealReply]).
//
// Items are decided in their order within the batch, each exactly as an
// eth2.sign request of its own: a conflicting pair inside one batch gets
// the first signed and the second refused. An item has an id of its own,
// used once per client (by a request or by an item, ordered or not), and
// its [ItemHash] is what the committed result of the item binds and what
// each replica's audit chain records. A replayed batch is answered from
// its committed result (sealed to the same reply key) and decides nothing
// again; the same item in another batch is refused as a reused id.

// OpEth2Batch carries several ordered eth2.sign requests (block proposals
// and attestations) of one client as one ordered request
// ([Eth2BatchBody]).
const OpEth2Batch = "eth2.batch"

// OrderedBatchBody is the body of an ordered batch ([OpEth2Batch],
// [OpKeyGenBatch]): 1..MaxBatchItems items, each with the batch's item
// operation ([OrderedBatchItemOp]), with distinct ids, none the batch's own.
type OrderedBatchBody struct {
	Items []BatchItem `json:"items"`
}

// Eth2BatchBody is the body of an OpEth2Batch request: its items are
// OpEth2Sign requests with an [Eth2SignBody].
type Eth2BatchBody = OrderedBatchBody

// # Ordered batches of key generations
//
// A wallet service creating many keys at once (deposit accounts for many
// users) sends its keys.gen requests in flight together as one
// [OpKeyGenBatch]: one transaction of the log, one id, one expiry and one
// Ed25519 signature over all of them, like an [OpEth2Batch] and with the
// same item rules (decided in order, each exactly as a keys.gen of its own;
// an item id used once per client; [ItemHash] bound by each item's
// committed result and recorded in every replica's audit chain). A key's
// public data is not secret: the answer is not sealed, and each item's
// answer carries its [KeyInfo] ([Response.Items]) or its refusal. A key id
// taken earlier in the same batch, or a pool emptied by the items before,
// refuses that item only.

// OpKeyGenBatch carries several keys.gen requests of one client as one
// ordered request ([KeyGenBatchBody]).
const OpKeyGenBatch = "keys.gen.batch"

// KeyGenBatchBody is the body of an OpKeyGenBatch request: its items are
// OpKeyGen requests with a [KeyGenBody].
type KeyGenBatchBody = OrderedBatchBody

// OrderedBatchItemOp returns the operation of the items of an ordered
// batch operation (OpEth2Batch, OpKeyGenBatch), or "" for any other
// operation.
func OrderedBatchItemOp(op string) string {
	switch op {
	case OpEth2Batch:
		return OpEth2Sign
	case OpKeyGenBatch:
		return OpKeyGen
	}
	return ""
}

// batchItemContext domain-separates item hashes from request hashes.
const batchItemContext = "vhsm/batch-item/v1\x00"

// ItemHash is the hash of a batch item of client: SHA-256(context ‖
// client ‖ 0 ‖ id ‖ 0 ‖ op ‖ 0 ‖ body), what a replica's audit chain records
// for it. It does not depend on the batch, so every replica that served
// the item records the same hash. (Client ids, item ids and operations
// hold no zero byte.)
func ItemHash(client string, it *BatchItem) [32]byte {
	h := sha256.New()
	h.Write([]byte(batchItemContext))
	for _, s := range []string{client, it.ID, it.Op} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(it.Body)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// ErrBundle is returned by [SplitBundle] for bytes that are not a bundle of
// the expected number of parts.
var ErrBundle = errors.New("wire: malformed bundle of partial results")

// maxPartLen bounds one part of a bundle (uint16 length prefix).
const maxPartLen = 1<<16 - 1

// AppendBundle appends one part to a bundle of partial results: a uint16
// big-endian length, then the bytes. An empty part stands for an item
// without a partial result (refused). It panics on a part over 65,535
// bytes, which no operation produces.
func AppendBundle(bundle, part []byte) []byte {
	if len(part) > maxPartLen {
		panic("wire: bundle part too long")
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(part)))
	return append(bundle, part...)
}

// SplitBundle splits a bundle made by [AppendBundle] into exactly n parts
// (views into bundle; empty parts are nil). Trailing bytes, a short part or
// another count are an error.
func SplitBundle(bundle []byte, n int) ([][]byte, error) {
	if n < 0 || n > MaxBatchItems {
		return nil, ErrBundle
	}
	parts := make([][]byte, n)
	for i := range n {
		if len(bundle) < 2 {
			return nil, ErrBundle
		}
		l := int(binary.BigEndian.Uint16(bundle))
		bundle = bundle[2:]
		if len(bundle) < l {
			return nil, ErrBundle
		}
		if l > 0 {
			parts[i] = bundle[:l:l]
		}
		bundle = bundle[l:]
	}
	if len(bundle) != 0 {
		return nil, ErrBundle
	}
	return parts, nil
}
