package dkg

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/threshold/dleq"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Version is the first byte of every encoded message.
const Version = 1

// Kind tags the three message types of the transcript.
type Kind uint8

// Message kinds, the second byte of every encoded message.
const (
	// KindDealing tags a [Dealing].
	KindDealing Kind = 1
	// KindResponse tags a [Response].
	KindResponse Kind = 2
	// KindTimeout tags a [TimeoutVote].
	KindTimeout Kind = 3
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindDealing:
		return "dealing"
	case KindResponse:
		return "response"
	case KindTimeout:
		return "timeout"
	case KindLateComplaint:
		return "late complaint"
	case KindReveal:
		return "reveal"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// ErrMalformedMessage is wrapped by every decoding error.
var ErrMalformedMessage = errors.New("dkg: malformed message")

// Message is one transaction of the DKG transcript: a [*Dealing], a
// [*Response] or a [*TimeoutVote], or, after the session is done, a
// [*LateComplaint] or a [*Reveal] (repair.go).
type Message interface {
	// Kind returns the message type.
	Kind() Kind
	// SenderIndex returns the replica index the message claims as sender;
	// the caller authenticates it.
	SenderIndex() int
	// Marshal returns the canonical encoding, parsed by [DecodeMessage].
	Marshal() []byte
}

// Phase names a phase that a [TimeoutVote] asks to close.
type Phase uint8

// Phases that can time out.
const (
	// PhaseDealing is the dealing phase ([StatusDealing]).
	PhaseDealing Phase = 1
	// PhaseResponding is the complaint phase ([StatusResponding]).
	PhaseResponding Phase = 2
)

// Dealing is dealer i's contribution: Batch Feldman commitments and, for
// every recipient, its Batch shares encrypted under a key derived from an
// ephemeral Diffie-Hellman key.
type Dealing struct {
	// Dealer is the dealer's replica index, 1..N.
	Dealer int
	// Ephemeral is E = e·G on secp256k1; recipient j's encryption key is
	// K = e·PK_j = sk_j·E.
	Ephemeral group.Point
	// EphemeralProof proves knowledge of e (a DLEQ proof with G = H).
	EphemeralProof dleq.Proof
	// Commitments[b] is the Feldman commitment to polynomial b, T+1 points
	// of the session's group.
	Commitments []vss.Commitment
	// Ciphertexts[j-1] is recipient j's Batch shares (ScalarLen bytes each,
	// in polynomial order) XORed with its keystream.
	Ciphertexts [][]byte
}

// Response is a replica's list of complaints, possibly empty. Every replica
// posts exactly one once the dealing phase has closed.
type Response struct {
	// Sender is the complaining replica's index, 1..N.
	Sender int
	// Complaints lists at most one complaint per dealer, in increasing
	// dealer order.
	Complaints []Complaint
}

// Complaint reveals the pairwise key K of one dealing so that anyone can
// decrypt the complainer's shares from it and check them (ETHDKG).
type Complaint struct {
	// Dealer is the accused dealer's index.
	Dealer int
	// Key is K = sk_j·E_i, a secp256k1 point.
	Key group.Point
	// Proof shows log_G(PK_j) = log_{E_i}(K).
	Proof dleq.Proof
}

// TimeoutVote is a replica's statement that, by its clock, the given phase
// has lasted long enough.
type TimeoutVote struct {
	// Sender is the voting replica's index, 1..N.
	Sender int
	// Phase is the phase the vote asks to close.
	Phase Phase
}

// Kind returns KindDealing.
func (d *Dealing) Kind() Kind { return KindDealing }

// SenderIndex returns the dealer index.
func (d *Dealing) SenderIndex() int { return d.Dealer }

// Kind returns KindResponse.
func (r *Response) Kind() Kind { return KindResponse }

// SenderIndex returns the complainer index.
func (r *Response) SenderIndex() int { return r.Sender }

// Kind returns KindTimeout.
func (v *TimeoutVote) Kind() Kind { return KindTimeout }

// SenderIndex returns the voter index.
func (v *TimeoutVote) SenderIndex() int { return v.Sender }

// Encoding (all integers big-endian):
//
//	header   = version(1) kind(1) sender(2)
//	dealing  = header batch(2) t(2) n(2) E(33) pok(64)
//	           commitments(batch·(t+1)·PointLen) ciphertexts(n·batch·ScalarLen)
//	response = header count(2) count × [dealer(2) K(33) proof(64)]
//	           with dealer indices strictly increasing
//	timeout  = header phase(1)
//
// Every length is implied by the counts; the decoder rejects any trailing or
// missing byte, every non-canonical point or scalar, and counts above the
// package limits.
const headerLen = 4

func header(k Kind, sender int) []byte {
	return []byte{Version, byte(k), byte(sender >> 8), byte(sender)}
}

// proofLen is the length of a DLEQ proof over secp256k1: two scalars.
func proofLen() int { return 2 * group.Secp256k1().ScalarLen() }

// Marshal returns the canonical encoding of the dealing. The dealing must be
// well formed ([Dealing.Check]); it is a programming error otherwise and the
// encoding will not decode.
func (d *Dealing) Marshal() []byte {
	out := header(KindDealing, d.Dealer)
	deg := 0
	if len(d.Commitments) > 0 {
		deg = len(d.Commitments[0]) - 1
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(d.Commitments)))
	out = binary.BigEndian.AppendUint16(out, uint16(deg))
	out = binary.BigEndian.AppendUint16(out, uint16(len(d.Ciphertexts)))
	out = append(out, d.Ephemeral.Bytes()...)
	out = append(out, d.EphemeralProof.Bytes()...)
	for _, c := range d.Commitments {
		out = append(out, c.Bytes()...)
	}
	for _, ct := range d.Ciphertexts {
		out = append(out, ct...)
	}
	return out
}

// Marshal returns the canonical encoding of the response.
func (r *Response) Marshal() []byte {
	out := header(KindResponse, r.Sender)
	out = binary.BigEndian.AppendUint16(out, uint16(len(r.Complaints)))
	for _, c := range r.Complaints {
		out = binary.BigEndian.AppendUint16(out, uint16(c.Dealer))
		out = append(out, c.Key.Bytes()...)
		out = append(out, c.Proof.Bytes()...)
	}
	return out
}

// Marshal returns the canonical encoding of the vote.
func (v *TimeoutVote) Marshal() []byte {
	return append(header(KindTimeout, v.Sender), byte(v.Phase))
}

// DecodeMessage parses one canonical message whose commitments are points of
// g. It checks structure only (lengths, limits, canonical points and proofs,
// sender index ≥ 1); consistency with the session's [Params] is checked by
// [Session.Apply].
func DecodeMessage(g group.Group, b []byte) (Message, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: short header", ErrMalformedMessage)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformedMessage, b[0])
	}
	sender := int(binary.BigEndian.Uint16(b[2:4]))
	if sender < 1 || sender > MaxN {
		return nil, fmt.Errorf("%w: sender %d", ErrMalformedMessage, sender)
	}
	body := b[headerLen:]
	switch Kind(b[1]) {
	case KindDealing:
		return decodeDealing(g, sender, body)
	case KindResponse:
		return decodeResponse(sender, body)
	case KindTimeout:
		if len(body) != 1 || (Phase(body[0]) != PhaseDealing && Phase(body[0]) != PhaseResponding) {
			return nil, fmt.Errorf("%w: timeout vote", ErrMalformedMessage)
		}
		return &TimeoutVote{Sender: sender, Phase: Phase(body[0])}, nil
	case KindLateComplaint: // repair.go
		return decodeLateComplaint(sender, body)
	case KindReveal: // repair.go
		return decodeReveal(g, sender, body)
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrMalformedMessage, b[1])
	}
}

func decodeDealing(g group.Group, dealer int, b []byte) (*Dealing, error) {
	ec := group.Secp256k1()
	if len(b) < 6 {
		return nil, fmt.Errorf("%w: short dealing", ErrMalformedMessage)
	}
	batch := int(binary.BigEndian.Uint16(b[0:2]))
	deg := int(binary.BigEndian.Uint16(b[2:4]))
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if batch < 1 || batch > MaxBatch || deg > vss.MaxDegree || n < 1 || n > MaxN {
		return nil, fmt.Errorf("%w: dealing counts out of range", ErrMalformedMessage)
	}
	comLen := (deg + 1) * g.PointLen()
	ctLen := batch * g.ScalarLen()
	want := 6 + ec.PointLen() + proofLen() + batch*comLen + n*ctLen
	if len(b) != want {
		return nil, fmt.Errorf("%w: dealing length %d, want %d", ErrMalformedMessage, len(b), want)
	}
	b = b[6:]
	eph, err := ec.DecodePoint(b[:ec.PointLen()])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrMalformedMessage, err)
	}
	b = b[ec.PointLen():]
	pok, err := dleq.Decode(ec, b[:proofLen()])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral proof: %w", ErrMalformedMessage, err)
	}
	b = b[proofLen():]
	d := &Dealing{Dealer: dealer, Ephemeral: eph, EphemeralProof: pok,
		Commitments: make([]vss.Commitment, batch), Ciphertexts: make([][]byte, n)}
	for k := range d.Commitments {
		c, err := vss.DecodeCommitment(g, b[:comLen])
		if err != nil {
			return nil, fmt.Errorf("%w: commitment %d: %w", ErrMalformedMessage, k, err)
		}
		d.Commitments[k] = c
		b = b[comLen:]
	}
	for j := range d.Ciphertexts {
		d.Ciphertexts[j] = append([]byte(nil), b[:ctLen]...)
		b = b[ctLen:]
	}
	return d, nil
}

func decodeResponse(sender int, b []byte) (*Response, error) {
	ec := group.Secp256k1()
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: short response", ErrMalformedMessage)
	}
	count := int(binary.BigEndian.Uint16(b[0:2]))
	itemLen := 2 + ec.PointLen() + proofLen()
	if count > MaxN || len(b) != 2+count*itemLen {
		return nil, fmt.Errorf("%w: response length", ErrMalformedMessage)
	}
	b = b[2:]
	r := &Response{Sender: sender, Complaints: make([]Complaint, 0, count)}
	prev := 0
	for range count {
		dealer := int(binary.BigEndian.Uint16(b[0:2]))
		if dealer <= prev || dealer > MaxN {
			return nil, fmt.Errorf("%w: complaint dealers not strictly increasing", ErrMalformedMessage)
		}
		prev = dealer
		key, err := ec.DecodePoint(b[2 : 2+ec.PointLen()])
		if err != nil {
			return nil, fmt.Errorf("%w: complaint key: %w", ErrMalformedMessage, err)
		}
		proof, err := dleq.Decode(ec, b[2+ec.PointLen():itemLen])
		if err != nil {
			return nil, fmt.Errorf("%w: complaint proof: %w", ErrMalformedMessage, err)
		}
		r.Complaints = append(r.Complaints, Complaint{Dealer: dealer, Key: key, Proof: proof})
		b = b[itemLen:]
	}
	return r, nil
}
