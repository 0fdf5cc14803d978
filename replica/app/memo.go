package app

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/vhsm/vhsm/replica/wire"
)

// Memos of pure functions of a request's bytes.
//
// A client request is looked at up to four times at each replica: by the
// engine when it arrives (VerifyRequest, and for an ordered request
// Precheck), by CheckTx when it enters the mempool, and by FinalizeBlock.
// Each time it was decoded (JSON), its Ed25519 signature checked (sigCache
// already made that one verification) and, for eth2.sign, the typed
// remote-signing request parsed and its signing root computed. The app now
// remembers, per replica, the outcome of these steps for requests that
// passed them:
//
//   - reqs: the signed request bytes and signature → the strictly
//     decoded request and the client public key the signature verified
//     with. A hit is used only when the client's key looked up in the
//     current state (committed, or the block's staged writes) is byte for
//     byte that key; a client re-registered with another key, or unknown,
//     goes through the full check.
//   - eth2s: a typed request's bytes → its signing root and slashable
//     data (decodeEth2).
//   - txs: a client transaction's bytes → its decoded envelope (DecodeTx;
//     replica transactions are a cheap binary decode and not remembered).
//   - passed: a transaction's bytes, a version of the committed state and
//     a second → the transaction passed CheckTx's checks (check). Unlike
//     the others this depends on the state, which the key pins: the
//     version changes at every Commit, so an entry never outlives the
//     state it was computed on. It is read only by CheckTx and Precheck,
//     never by FinalizeBlock.
//
// Both are functions of the bytes alone (and of the key, compared on every
// hit), so a hit gives exactly what recomputing gives, and FinalizeBlock's
// results are the same whether or not an entry is there (determinism across
// replicas whose caches differ). Failures are never remembered. Entries are
// keyed by SHA-256 digests of everything that went in, and the memos are
// bounded LRUs. Nothing secret is in them (requests are signed public
// messages; a reply key is a public key).

// maxMemoEntries bounds each memo (a few hundred bytes to a few kB each).
const maxMemoEntries = 1 << 12

// memo is a bounded LRU from a digest to an immutable value. The zero
// value is ready.
type memo struct {
	mu  sync.Mutex
	m   map[digest]*list.Element
	lru list.List // front: most recently used; values *memoEntry
}

type digest = [sha256.Size]byte

type memoEntry struct {
	k digest
	v any
}

func (c *memo) get(k digest) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*memoEntry).v, true
}

func (c *memo) put(k digest, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[digest]*list.Element)
	}
	if el, ok := c.m[k]; ok {
		el.Value.(*memoEntry).v = v
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(&memoEntry{k: k, v: v})
	for c.lru.Len() > maxMemoEntries {
		e := c.lru.Remove(c.lru.Back()).(*memoEntry)
		delete(c.m, e.k)
	}
}

func (c *memo) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// verifiedRequest is a reqMemo entry: what verifyRequest returned for a
// signed request, and the client key its signature verified with.
type verifiedRequest struct {
	req wire.Request
	pub []byte
}

// requestDigest binds a signed request's bytes, its signature and the
// cluster it was checked for.
func requestDigest(sr *wire.SignedRequest, cluster string) digest {
	h := sha256.New()
	var l [12]byte
	binary.BigEndian.PutUint32(l[:4], uint32(len(cluster)))
	binary.BigEndian.PutUint32(l[4:8], uint32(len(sr.Request)))
	binary.BigEndian.PutUint32(l[8:], uint32(len(sr.Signature)))
	h.Write(l[:])
	h.Write([]byte(cluster))
	h.Write(sr.Request)
	h.Write(sr.Signature)
	var d digest
	h.Sum(d[:0])
	return d
}

// recall returns the request remembered for sr if its client, looked up
// now, still has the key the signature verified with.
func (c *memo) recall(d digest, lookup func(id string) (*ClientInfo, error)) (*wire.Request, *ClientInfo, bool) {
	if c == nil {
		return nil, nil, false
	}
	v, ok := c.get(d)
	if !ok {
		return nil, nil, false
	}
	vr := v.(*verifiedRequest)
	ci, err := lookup(vr.req.Client)
	if err != nil || ci == nil || !bytes.Equal(ci.PublicKey, vr.pub) {
		return nil, nil, false
	}
	return copyRequest(&vr.req), ci, true
}

// copyRequest returns a deep copy of r: callers get their own request,
// never one the memo still holds.
func copyRequest(r *wire.Request) *wire.Request {
	c := *r
	c.Reply = bytes.Clone(r.Reply)
	c.Body = bytes.Clone(r.Body)
	return &c
}

// eth2Digest keys a typed request's parse.
func eth2Digest(request []byte) digest {
	h := sha256.New()
	h.Write([]byte("vhsm/app/eth2-parse/v1"))
	h.Write(request)
	var d digest
	h.Sum(d[:0])
	return d
}

// decodeEth2Memo is decodeEth2 remembered in c (nil: not remembered). The
// caller gets its own copy of the slashable data.
func decodeEth2Memo(c *memo, request []byte) (*eth2Typed, error) {
	if c == nil {
		return decodeEth2(request)
	}
	d := eth2Digest(request)
	if v, ok := c.get(d); ok {
		return copyTyped(v.(*eth2Typed)), nil
	}
	t, err := decodeEth2(request)
	if err != nil {
		return nil, err
	}
	c.put(d, copyTyped(t))
	return t, nil
}

func copyTyped(t *eth2Typed) *eth2Typed {
	c := &eth2Typed{Root: t.Root}
	if t.Slashable != nil {
		s := *t.Slashable
		c.Slashable = &s
	}
	return c
}

// ParseEth2 is the package's ParseEth2 through this replica's memo of
// typed requests (the engine's view of a request the app parses too).
func (a *App) ParseEth2(request []byte) (root [32]byte, slashable bool, err error) {
	t, err := decodeEth2Memo(&a.eth2s, request)
	if err != nil {
		return root, false, err
	}
	return t.Root, t.Slashable != nil, nil
}

// decodeTx is DecodeTx, remembering decoded client transactions in a.txs
// (ProcessProposal, CheckTx and FinalizeBlock see the same bytes). The
// caller gets its own copy.
func (a *App) decodeTx(txb []byte) (*wire.Tx, error) {
	if len(txb) == 0 || txb[0] == replicaTxMagic || len(txb) > maxTxBytes {
		return DecodeTx(txb)
	}
	d := sha256.Sum256(txb)
	if v, ok := a.txs.get(d); ok {
		return copyTx(v.(*wire.Tx)), nil
	}
	t, err := DecodeTx(txb)
	if err != nil || t.Client == nil {
		return t, err
	}
	a.txs.put(d, copyTx(t))
	return t, nil
}

func copyTx(t *wire.Tx) *wire.Tx {
	return &wire.Tx{Client: &wire.SignedRequest{Request: bytes.Clone(t.Client.Request), Signature: bytes.Clone(t.Client.Signature)}}
}

// checkDigest keys a check verdict: the transaction's bytes, the committed
// state version and the second it was checked at.
func checkDigest(txb []byte, version uint64, now int64) digest {
	h := sha256.New()
	var l [16]byte
	binary.BigEndian.PutUint64(l[:8], version)
	binary.BigEndian.PutUint64(l[8:], uint64(now))
	h.Write([]byte("vhsm/app/check/v1"))
	h.Write(l[:])
	h.Write(txb)
	var d digest
	h.Sum(d[:0])
	return d
}
