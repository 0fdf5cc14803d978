package app

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/vhsm/vhsm/replica/wire"
)

// DKGPayload is the payload of a replica transaction of kind "dkg".
type DKGPayload struct {
	Session string `json:"session"` // SessionInfo.Name
	Message []byte `json:"message"` // threshold/dkg message encoding
}

// replicaTxMessage is the signed message of a replica transaction:
// ReplicaTxContext ‖ uint32(len cluster) ‖ cluster ‖ uint32(replica) ‖
// uint32(len kind) ‖ kind ‖ payload. The cluster id binds it to one
// cluster's log.
func replicaTxMessage(cluster string, replica int, kind string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString(wire.ReplicaTxContext)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(cluster)))
	b.Write(n[:])
	b.WriteString(cluster)
	binary.BigEndian.PutUint32(n[:], uint32(replica))
	b.Write(n[:])
	binary.BigEndian.PutUint32(n[:], uint32(len(kind)))
	b.Write(n[:])
	b.WriteString(kind)
	b.Write(payload)
	return b.Bytes()
}

// verifyReplicaSig checks a replica transaction's Ed25519 signature with
// the genesis key of its replica (in 1..N, checked by the caller). A replica
// transaction is checked by CheckTx, again in FinalizeBlock, and by every
// engine of the same process that prechecks it: the app's signature cache
// (successes only, keyed by key, message and signature) makes that one
// verification.
func (a *App) verifyReplicaSig(rt *wire.ReplicaTx) error {
	pub := ed25519.PublicKey(a.g.Replicas[rt.Replica-1].SignKey)
	if len(rt.Signature) != ed25519.SignatureSize || !a.sigs.verify(pub, replicaTxMessage(a.g.Cluster, rt.Replica, rt.Kind, rt.Payload), rt.Signature) {
		return fmt.Errorf("%w: replica %d", ErrBadSignature, rt.Replica)
	}
	return nil
}

// SignReplicaTx builds the transaction bytes (the binary envelope,
// envelope.go) of a DKG message from replica me of cluster.
func SignReplicaTx(cluster string, me int, key ed25519.PrivateKey, p DKGPayload) ([]byte, error) {
	return signReplica(cluster, me, key, "dkg", p)
}

// DecodeStrict decodes JSON (a request body) rejecting unknown fields and
// trailing data, as the app does.
func DecodeStrict(b []byte, v any) error { return decodeStrict(b, v) }

// decodeStrict decodes JSON rejecting unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// DecodeTx parses a transaction envelope: exactly one of Client and Replica.
// A replica transaction is in the binary envelope (envelope.go) or, if
// written before it, in JSON.
func DecodeTx(tx []byte) (*wire.Tx, error) {
	if len(tx) > maxTxBytes {
		return nil, ErrTooLarge
	}
	if len(tx) > 0 && tx[0] == replicaTxMagic {
		rt, err := decodeEnvelope(tx)
		if err != nil {
			return nil, err
		}
		return &wire.Tx{Replica: rt}, nil
	}
	var t wire.Tx
	if err := decodeStrict(tx, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if (t.Client == nil) == (t.Replica == nil) {
		return nil, fmt.Errorf("%w: envelope needs exactly one of client, replica", ErrMalformed)
	}
	if t.Client != nil && len(t.Client.Request) > wire.MaxRequestBytes {
		return nil, ErrTooLarge
	}
	return &t, nil
}

// maxTxBytes bounds any transaction (a DKG dealing of a large batch).
const maxTxBytes = 4 << 20

// verifyRequest checks the signature of sr with the client's registered key,
// decodes the request strictly, and checks that it is for cluster and names
// a reply key where its answers will be sealed. It checks neither expiry
// nor replay. A request that passed before is taken from reqs (memo.go)
// when its client still has the key it verified with; reqs nil checks
// every time.
func verifyRequest(sr *wire.SignedRequest, cluster string, lookup func(id string) (*ClientInfo, error), sigs *sigCache, reqs *memo) (*wire.Request, *ClientInfo, error) {
	if len(sr.Request) > wire.MaxRequestBytes {
		return nil, nil, ErrTooLarge
	}
	if len(sr.Signature) != ed25519.SignatureSize {
		return nil, nil, ErrBadSignature
	}
	var d digest
	if reqs != nil {
		d = requestDigest(sr, cluster)
		if req, c, ok := reqs.recall(d, lookup); ok {
			return req, c, nil
		}
	}
	// The client is read before the signature is checked, from a minimal
	// decode; the full strict decode happens only on signed bytes.
	var head struct {
		Client string `json:"client"`
	}
	if err := json.Unmarshal(sr.Request, &head); err != nil || !validID(head.Client) {
		return nil, nil, fmt.Errorf("%w: request header", ErrMalformed)
	}
	c, err := lookup(head.Client)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownClient, head.Client)
	}
	msg := append([]byte(wire.RequestContext), sr.Request...)
	if !sigs.verify(ed25519.PublicKey(c.PublicKey), msg, sr.Signature) {
		return nil, nil, ErrBadSignature
	}
	var req wire.Request
	if err := decodeStrict(sr.Request, &req); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if req.Client != head.Client || !ValidRequestID(req.ID) {
		return nil, nil, fmt.Errorf("%w: request id", ErrMalformed)
	}
	if req.Cluster != cluster {
		return nil, nil, fmt.Errorf("%w: %q, this is %q", ErrWrongCluster, req.Cluster, cluster)
	}
	if wire.NeedsReply(req.Op) && len(req.Reply) != wire.ReplyKeyLen {
		return nil, nil, fmt.Errorf("%w: %s needs a %d-byte reply key", ErrMalformed, req.Op, wire.ReplyKeyLen)
	}
	if reqs != nil {
		reqs.put(d, &verifiedRequest{req: *copyRequest(&req), pub: bytes.Clone(c.PublicKey)})
	}
	return &req, c, nil
}

// ValidRequestID reports whether id is a request (or batch item) id: 16
// bytes in lowercase hex.
func ValidRequestID(id string) bool { return len(id) == 32 && isHex(id) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkExpiry applies the expiry rules against now (Unix seconds).
func checkExpiry(req *wire.Request, now int64) error {
	if req.Expires < now {
		return ErrExpired
	}
	if req.Expires > now+wire.MaxValidity {
		return ErrTooFar
	}
	return nil
}

// sigCache remembers the client and replica signatures that verified, so
// that a request checked on arrival, by CheckTx and again in FinalizeBlock
// costs one Ed25519 verification at this replica instead of three or four
// (and a replica transaction one instead of two). Only
// successes are kept, keyed by a digest of (public key, message,
// signature); a verification is a pure function of those, so a hit gives
// exactly the answer a new verification would, and FinalizeBlock stays
// deterministic. The zero value is ready; a nil cache verifies every time.
type sigCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]struct{}
}

// sigCacheSize bounds the remembered signatures (about 3 MB); the cache is
// emptied when full.
const sigCacheSize = 1 << 15

// verify is ed25519.Verify(pub, msg, sig), remembering successes.
func (s *sigCache) verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if s == nil {
		return ed25519.Verify(pub, msg, sig)
	}
	h := sha256.New()
	var l [8]byte
	binary.BigEndian.PutUint32(l[:4], uint32(len(pub)))
	binary.BigEndian.PutUint32(l[4:], uint32(len(sig)))
	h.Write(l[:])
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	s.mu.Lock()
	_, ok := s.m[d]
	s.mu.Unlock()
	if ok {
		return true
	}
	if !ed25519.Verify(pub, msg, sig) {
		return false
	}
	s.mu.Lock()
	if s.m == nil || len(s.m) >= sigCacheSize {
		s.m = make(map[[sha256.Size]byte]struct{})
	}
	s.m[d] = struct{}{}
	s.mu.Unlock()
	return true
}
