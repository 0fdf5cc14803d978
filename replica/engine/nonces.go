package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/frost"
	"github.com/vhsm/vhsm/threshold/group"
)

// # FROST nonces: single use across crashes, restarts and restores
//
// A replica makes its own nonce pairs (d, e) (RFC 9591 §5.1, commit) and
// hands their commitments (D, E) to clients ahead of use; the pairs need no
// consensus, because every signer's binding factor covers the message and
// the whole list of the session's commitments (RFC 9591 §4.4), so a client
// that lies about another signer's commitment only gets an invalid
// signature. What must hold is that no pair ever signs twice: two partials
// z = d + ρ·e + λ·c·x and z' = d + ρ'·e + λ·c'·x on different messages
// reveal x.
//
// The argument, step by step:
//
//  1. Pairs live only in this process's memory (nonceStore.entries), never
//     on disk, in a log or in a backup: no file holds d or e, so no
//     restart, no restored home (of one replica or of the whole cluster)
//     and no replayed log can bring one back.
//  2. Each process start is a new epoch: 8 random bytes drawn at start and
//     put in every reference. A reference from an earlier process (held by a
//     client across our restart) names no pair of this epoch and is
//     refused; a pair is never re-derived, because derivation draws fresh
//     randomness (hedged with this replica's long-term secret, RFC 9591
//     nonce_generate, so a broken RNG alone does not repeat d or e either).
//  3. Within a process, take removes a pair from the map under the store's
//     lock before its partial is computed: two requests naming the same
//     reference race for one removal, and only the winner signs. A pair is
//     removed whether or not the sign then succeeds (its commitment may have
//     been published in a session that failed).
//  4. A pair is handed to one client and usable only by that client's
//     signed requests; it expires unused after nonceTTL.
//
// So marking in memory suffices and the signing path needs no disk write:
// the mark and the secret die together.

// nonceTTL is how long an unused pair stays valid after it was handed out.
const nonceTTL = 10 * time.Minute

// Bounds on outstanding pairs: per client, and in all.
const (
	maxNoncesPerClient = 4096
	maxNonces          = 1 << 17
)

// Errors of nonce use.
var (
	// errUnknownNonce: the reference names no pair this process holds for
	// the client (used, expired, handed to another client, or from an
	// earlier epoch). The client drops its commitments of this replica and
	// fetches fresh ones.
	errUnknownNonce = errors.New("engine: unknown or used nonce")
	// errTooManyNonces: the client holds too many unused pairs already.
	errTooManyNonces = errors.New("engine: too many outstanding nonces, use or let expire some first")
)

// nonceRefLen is the length of a reference: epoch (8) ‖ counter (8).
const nonceRefLen = 16

// nonceStore holds this replica's outstanding FROST nonce pairs.
type nonceStore struct {
	me     int
	secret group.Scalar // hedges nonce derivation (the replica's DKG key)
	rand   io.Reader
	now    func() time.Time

	mu      sync.Mutex
	epoch   [8]byte
	next    uint64
	entries map[uint64]*nonceEntry
	byOwner map[string]int
}

type nonceEntry struct {
	nonce *frost.Nonce
	com   frost.Commitment
	// hiding, binding are com's points encoded (33 bytes each), as handed
	// out: take compares them with the session's without re-encoding.
	hiding, binding []byte
	owner           string
	expires         time.Time
}

// newNonceStore starts a new epoch.
func newNonceStore(me int, secret group.Scalar, rnd io.Reader) (*nonceStore, error) {
	s := &nonceStore{me: me, secret: secret, rand: rnd, now: time.Now, entries: map[uint64]*nonceEntry{}, byOwner: map[string]int{}}
	// The epoch comes from the operating system's generator, whatever the
	// configured reader: it must differ across starts.
	if _, err := io.ReadFull(rand.Reader, s.epoch[:]); err != nil {
		return nil, fmt.Errorf("nonce epoch: %w", err)
	}
	return s, nil
}

// issue makes count fresh pairs for owner and returns their commitments.
func (s *nonceStore) issue(owner string, count int) ([]wire.NonceCommitment, error) {
	if count < 1 || count > wire.MaxNonces {
		return nil, fmt.Errorf("nonces: count %d outside 1..%d", count, wire.MaxNonces)
	}
	s.mu.Lock()
	over := func() bool { return s.byOwner[owner]+count > maxNoncesPerClient || len(s.entries)+count > maxNonces }
	if over() {
		s.expireLocked()
		if over() {
			s.mu.Unlock()
			return nil, errTooManyNonces
		}
	}
	first := s.next
	s.next += uint64(count)
	s.byOwner[owner] += count // reserved now, so concurrent issues stay within bounds
	epoch := s.epoch
	s.mu.Unlock()

	// Derivation (two constant-time base multiplications a pair) runs
	// outside the lock.
	out := make([]wire.NonceCommitment, 0, count)
	made := make([]*nonceEntry, 0, count)
	var err error
	for k := 0; k < count; k++ {
		var n *frost.Nonce
		if n, err = frost.Taproot.NewNonce(s.secret, s.rand); err != nil {
			break
		}
		e := &nonceEntry{nonce: n, com: n.Commit(s.me), owner: owner, expires: s.now().Add(nonceTTL)}
		e.hiding, e.binding = e.com.Hiding.Bytes(), e.com.Binding.Bytes()
		made = append(made, e)
		ref := make([]byte, nonceRefLen)
		copy(ref, epoch[:])
		binary.BigEndian.PutUint64(ref[8:], first+uint64(k))
		out = append(out, wire.NonceCommitment{Nonce: ref, Hiding: slices.Clone(e.hiding), Binding: slices.Clone(e.binding)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byOwner[owner] -= count - len(made)
	for k, e := range made {
		s.entries[first+uint64(k)] = e
	}
	if err != nil {
		return nil, fmt.Errorf("nonces: %w", err)
	}
	return out, nil
}

// take removes and returns the pair named by ref, if this process holds it
// for owner with exactly the commitment (D, E) the session names. Once take
// has returned a pair, no other call ever returns it (step 3 above).
func (s *nonceStore) take(owner string, ref, hiding, binding []byte) (*frost.Nonce, error) {
	if len(ref) != nonceRefLen {
		return nil, errUnknownNonce
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if [8]byte(ref[:8]) != s.epoch {
		return nil, errUnknownNonce
	}
	seq := binary.BigEndian.Uint64(ref[8:])
	e, ok := s.entries[seq]
	if !ok || e.owner != owner || s.now().After(e.expires) {
		return nil, errUnknownNonce
	}
	if string(e.hiding) != string(hiding) || string(e.binding) != string(binding) {
		// The session names this reference with other points: refuse, and
		// keep the pair for a correct session.
		return nil, fmt.Errorf("%w: commitment does not match the reference", errUnknownNonce)
	}
	delete(s.entries, seq)
	s.byOwner[owner]--
	if s.byOwner[owner] <= 0 {
		delete(s.byOwner, owner)
	}
	return e.nonce, nil
}

// commitment returns the points of the pair named by ref, if this process
// holds it for owner with exactly the encodings hiding and binding: the
// session's commitment of this replica, without decoding it again (a
// square root a point). It removes nothing: take does, later.
func (s *nonceStore) commitment(owner string, ref, hiding, binding []byte) (frost.Commitment, bool) {
	if len(ref) != nonceRefLen {
		return frost.Commitment{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if [8]byte(ref[:8]) != s.epoch {
		return frost.Commitment{}, false
	}
	e, ok := s.entries[binary.BigEndian.Uint64(ref[8:])]
	if !ok || e.owner != owner || string(e.hiding) != string(hiding) || string(e.binding) != string(binding) {
		return frost.Commitment{}, false
	}
	return e.com, true
}

// outstanding returns how many unused pairs owner holds.
func (s *nonceStore) outstanding(owner string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byOwner[owner]
}

// expireLocked drops pairs whose time is over (wiping them).
func (s *nonceStore) expireLocked() {
	now := s.now()
	for seq, e := range s.entries {
		if now.After(e.expires) {
			e.nonce.Wipe()
			delete(s.entries, seq)
			if s.byOwner[e.owner]--; s.byOwner[e.owner] <= 0 {
				delete(s.byOwner, e.owner)
			}
		}
	}
}
