package app

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
	bolt "go.etcd.io/bbolt"
)

// Audit-chain heads (issue 14; replica/audit).
//
// Each replica commits the head of its audit chain, at least once per
// second while it serves requests, in a replica transaction of kind
// [AuditKind] carrying an [AuditPayload]. The app keeps every committed
// head of every replica (seq → head, with the height that committed it)
// and the latest one, and refuses a head whose seq does not increase: a
// replica cannot rewrite the part of its chain a committed head covers.

// AuditKind is the kind of a replica transaction committing an audit head.
const AuditKind = "audit"

// AuditPayload is the payload of an [AuditKind] transaction: the head of
// the sending replica's chain after record Seq.
type AuditPayload struct {
	Seq  uint64 `json:"seq"`
	Head []byte `json:"head"` // 32 bytes
}

// Key layout of the audit state.
const (
	pAudit       = "audit/"       // replica(8)/seq(8) → wire.AuditHead
	pAuditLatest = "auditlatest/" // replica(8) → wire.AuditHead
)

func auditKey(replica int, seq uint64) string {
	return pAudit + u64(uint64(replica)) + "/" + u64(seq)
}

// SignAuditTx builds the transaction bytes committing replica me's audit
// head, signed like [SignReplicaTx] but of kind [AuditKind].
func SignAuditTx(cluster string, me int, key ed25519.PrivateKey, p AuditPayload) ([]byte, error) {
	payload, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode audit payload: %w", err)
	}
	rt := &wire.ReplicaTx{Replica: me, Kind: AuditKind, Payload: payload}
	rt.Signature = ed25519.Sign(key, replicaTxMessage(cluster, me, rt.Kind, payload))
	return json.Marshal(wire.Tx{Replica: rt})
}

// verifyAuditTx checks an audit transaction: the replica's signature, a
// well-formed payload, and a seq above the replica's latest committed head.
func (a *App) verifyAuditTx(o *overlay, rt *wire.ReplicaTx) (*AuditPayload, error) {
	if rt.Replica < 1 || rt.Replica > a.g.N {
		return nil, fmt.Errorf("%w: replica %d", ErrBadReplica, rt.Replica)
	}
	if err := a.verifyReplicaSig(rt); err != nil {
		return nil, err
	}
	var p AuditPayload
	if err := decodeStrict(rt.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: audit payload: %v", ErrBadReplica, err)
	}
	if len(p.Head) != 32 || p.Seq == 0 {
		return nil, fmt.Errorf("%w: audit head", ErrBadReplica)
	}
	latest, err := a.auditLatest(o, rt.Replica)
	if err != nil {
		return nil, err
	}
	if p.Seq <= latest.Seq {
		return nil, fmt.Errorf("%w: audit seq %d of replica %d does not increase (committed %d)", ErrBadReplica, p.Seq, rt.Replica, latest.Seq)
	}
	return &p, nil
}

// applyAuditTx records an authentic audit head.
func (a *App) applyAuditTx(o *overlay, rt *wire.ReplicaTx, height int64) error {
	p, err := a.verifyAuditTx(o, rt)
	if err != nil {
		return err
	}
	// One head per replica per block bounds what a faulty replica can add
	// to the state.
	if latest, err := a.auditLatest(o, rt.Replica); err != nil {
		return err
	} else if latest.Seq > 0 && latest.Height >= height {
		return fmt.Errorf("%w: replica %d committed an audit head in this block already", ErrBadReplica, rt.Replica)
	}
	h := wire.AuditHead{Replica: rt.Replica, Seq: p.Seq, Head: p.Head, Height: height}
	if err := o.putJSON(auditKey(rt.Replica, p.Seq), h); err != nil {
		return err
	}
	return o.putJSON(pAuditLatest+u64(uint64(rt.Replica)), h)
}

// AuditLatest returns the latest committed audit head of replica (Seq 0
// when it has none).
func (a *App) AuditLatest(replica int) (wire.AuditHead, error) {
	return a.auditLatest(a.committed(), replica)
}

func (a *App) auditLatest(o *overlay, replica int) (wire.AuditHead, error) {
	h := wire.AuditHead{Replica: replica}
	_, err := o.getJSON(pAuditLatest+u64(uint64(replica)), &h)
	return h, err
}

// AuditHeads returns, from committed state, at most limit committed audit
// heads of replica with seq greater than after, by increasing seq, and the
// committed height they were read at.
func (a *App) AuditHeads(replica int, after uint64, limit int) ([]wire.AuditHead, int64, error) {
	var heads []wire.AuditHead
	var height int64
	err := a.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			if b := m.Get(keyHeight); len(b) == 8 {
				height = int64(binary.BigEndian.Uint64(b))
			}
		}
		st := tx.Bucket(bucketState)
		if st == nil || limit < 1 {
			return nil
		}
		prefix := []byte(pAudit + u64(uint64(replica)) + "/")
		c := st.Cursor()
		for k, v := c.Seek([]byte(auditKey(replica, after+1))); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			var h wire.AuditHead
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("app: corrupt audit head: %w", err)
			}
			heads = append(heads, h)
			if len(heads) >= limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return heads, height, nil
}
