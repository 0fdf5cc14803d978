package dkg

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/vhsm/vhsm/threshold/dleq"
	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Errors about dealings, complaints and keys.
var (
	// ErrMalformedDealing is returned by [Dealing.Check] for a dealing that
	// does not match the session parameters or whose ephemeral-key proof
	// fails; its dealer is disqualified.
	ErrMalformedDealing = errors.New("dkg: malformed dealing")
	// ErrBadShares is returned when shares fail their Feldman commitments.
	ErrBadShares = errors.New("dkg: shares do not match commitments")
	// ErrWrongKey is returned when a secret key does not match the replica's
	// registered public key.
	ErrWrongKey = errors.New("dkg: secret key does not match replica key")
	// ErrInvalidIndex is returned for a replica index outside 1..N.
	ErrInvalidIndex = errors.New("dkg: replica index out of range")
)

// NewDealing deals Batch fresh random polynomials of degree T for replica me:
// it returns the [Dealing] to post. The polynomials are discarded once the
// shares are encrypted; the dealer recovers its own share like any recipient.
// An honest replica posts at most one dealing per session (only the first in
// the log counts); dealing again is safe but pointless, since every dealing
// uses a fresh ephemeral key.
func NewDealing(p Params, me int, rand io.Reader) (*Dealing, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !p.inRange(me) {
		return nil, ErrInvalidIndex
	}
	ec := group.Secp256k1()
	e, err := ec.RandomScalar(rand)
	if err != nil {
		return nil, fmt.Errorf("dkg: sample ephemeral key: %w", err)
	}
	d := &Dealing{Dealer: me, Ephemeral: ec.BaseMul(e)}
	// Proof of knowledge of e: a DLEQ proof with H = G, X = Y = E.
	G := ec.Generator()
	d.EphemeralProof, err = dleq.Prove(ec, p.dst("ephemeral-pok", me), G, G, d.Ephemeral, d.Ephemeral, e, rand)
	if err != nil {
		return nil, fmt.Errorf("dkg: prove ephemeral key: %w", err)
	}
	polys := make([]*vss.Polynomial, p.Batch)
	defer func() {
		for _, f := range polys {
			if f != nil {
				f.Wipe()
			}
		}
	}()
	d.Commitments = make([]vss.Commitment, p.Batch)
	for b := range polys {
		// GJKR Fig. 2, step 1(a): a random polynomial of degree t, committed
		// with Feldman's scheme.
		if polys[b], err = vss.NewPolynomial(p.Group, p.T, nil, rand); err != nil {
			return nil, fmt.Errorf("dkg: deal: %w", err)
		}
		d.Commitments[b] = polys[b].Commit()
	}
	d.Ciphertexts = make([][]byte, p.N)
	sl := p.Group.ScalarLen()
	for j := 1; j <= p.N; j++ {
		ks, err := keystream(p, me, j, d.Ephemeral, p.replicaKey(j).Mul(e))
		if err != nil {
			return nil, err
		}
		ct := make([]byte, p.Batch*sl)
		for b, f := range polys {
			sb := f.Share(j).Bytes()
			copy(ct[b*sl:], sb)
			clear(sb)
		}
		xorInto(ct, ks)
		clear(ks)
		d.Ciphertexts[j-1] = ct
	}
	return d, nil
}

// keystream derives the Batch·ScalarLen-byte pad for dealer→recipient from
// the Diffie-Hellman point K with HKDF-SHA256 (RFC 5869), bound to the
// session, group, both indices and the ephemeral key.
func keystream(p Params, dealer, recipient int, eph, k group.Point) ([]byte, error) {
	var info bytes.Buffer
	info.WriteString("vhsm-dkg-v1 share encryption")
	writeBytes16(&info, []byte(p.Group.Name()))
	writeBytes16(&info, p.SessionID)
	info.Write(binary.BigEndian.AppendUint16(nil, uint16(dealer)))
	info.Write(binary.BigEndian.AppendUint16(nil, uint16(recipient)))
	info.Write(eph.Bytes())
	ks, err := hkdf.Key(sha256.New, k.Bytes(), []byte("vhsm-dkg-v1"), info.String(), p.Batch*p.Group.ScalarLen())
	if err != nil {
		return nil, fmt.Errorf("dkg: derive keystream: %w", err)
	}
	return ks, nil
}

func xorInto(dst, ks []byte) {
	for i := range dst {
		dst[i] ^= ks[i]
	}
}

// Check verifies publicly that d is well formed for p: a dealer in range,
// Batch commitments of T+1 points each, N ciphertexts of Batch·ScalarLen
// bytes, and a valid proof of knowledge of the ephemeral key. It does not
// (and cannot) check the encrypted shares; recipients do that in
// [RespondTo]. p must be valid.
func (d *Dealing) Check(p Params) error {
	if !p.inRange(d.Dealer) {
		return fmt.Errorf("%w: dealer %d", ErrMalformedDealing, d.Dealer)
	}
	if len(d.Commitments) != p.Batch || len(d.Ciphertexts) != p.N {
		return fmt.Errorf("%w: %d commitments and %d ciphertexts, want %d and %d",
			ErrMalformedDealing, len(d.Commitments), len(d.Ciphertexts), p.Batch, p.N)
	}
	for _, c := range d.Commitments {
		if len(c) != p.T+1 || slices.Contains(c, nil) {
			return fmt.Errorf("%w: commitment degree", ErrMalformedDealing)
		}
	}
	for _, ct := range d.Ciphertexts {
		if len(ct) != p.Batch*p.Group.ScalarLen() {
			return fmt.Errorf("%w: ciphertext length", ErrMalformedDealing)
		}
	}
	if d.Ephemeral == nil || d.EphemeralProof.C == nil || d.EphemeralProof.Z == nil {
		return fmt.Errorf("%w: no ephemeral key or proof", ErrMalformedDealing)
	}
	ec := group.Secp256k1()
	if _, err := ec.DecodePoint(d.Ephemeral.Bytes()); err != nil {
		return fmt.Errorf("%w: ephemeral key: %w", ErrMalformedDealing, err)
	}
	G := ec.Generator()
	if err := d.EphemeralProof.Verify(ec, p.dst("ephemeral-pok", d.Dealer), G, G, d.Ephemeral, d.Ephemeral); err != nil {
		return fmt.Errorf("%w: ephemeral key proof: %w", ErrMalformedDealing, err)
	}
	return nil
}

// openShares decrypts recipient j's shares from d with the pairwise key k
// and checks each against its commitment. It returns the shares, or
// ErrBadShares naming the first bad slot if any fails to decode or to
// verify. d must be well formed ([Dealing.Check]).
func openShares(p Params, d *Dealing, j int, k group.Point) ([]group.Scalar, error) {
	shares, err := decryptShares(p, d, j, k)
	if err != nil {
		return nil, err
	}
	if err := checkShares(p, d, j, shares); err != nil {
		return nil, err
	}
	return shares, nil
}

// checkShares checks recipient j's decrypted shares from d against d's
// commitments: the batch check of the dealing, and if it fails, slot by
// slot, so that the error (ErrBadShares) names the first bad slot.
func checkShares(p Params, d *Dealing, j int, shares []group.Scalar) error {
	if sharesMatch(p, d, j, shares) {
		return nil
	}
	// Some share is bad: find the first one, so that the error names it.
	// The slot-by-slot check is the reference; if it passes (the combined
	// check cannot fail for correct shares) the shares are good.
	for b, s := range shares {
		// GJKR Fig. 2, step 1(b): check g^{s_ij} = Π_k (A_ik)^{j^k}.
		if !d.Commitments[b].Verify(j, s) {
			return fmt.Errorf("%w: dealer %d, slot %d", ErrBadShares, d.Dealer, b)
		}
	}
	return nil
}

// sharesMatch reports whether recipient j's shares, decrypted from d, match
// d's commitments: GJKR Fig. 2, step 1(b) for all slots at once, as one
// random linear combination of the Batch checks (batch.go) with coefficients
// bound to the whole dealing and to j. Correct shares always match; a
// dealing with a bad share matches with probability at most 2^-128, so a
// mismatch proves a bad share without saying which. d must be well formed.
func sharesMatch(p Params, d *Dealing, j int, shares []group.Scalar) bool {
	r := batchCoefficients(p.Group, shareCheckSeed(p, d.Dealer, j, d.Marshal()), len(shares))
	return batchVerify(p.Group, d.Commitments, j, shares, r)
}

// decryptShares decrypts recipient j's shares from d with the pairwise key
// k without checking them against the commitments. It returns ErrBadShares
// if a share is not a canonical scalar.
func decryptShares(p Params, d *Dealing, j int, k group.Point) ([]group.Scalar, error) {
	ks, err := keystream(p, d.Dealer, j, d.Ephemeral, k)
	if err != nil {
		return nil, err
	}
	pt := bytes.Clone(d.Ciphertexts[j-1])
	xorInto(pt, ks)
	clear(ks)
	defer clear(pt)
	sl := p.Group.ScalarLen()
	shares := make([]group.Scalar, p.Batch)
	for b := range shares {
		s, err := p.Group.DecodeScalar(pt[b*sl : (b+1)*sl])
		if err != nil {
			return nil, fmt.Errorf("%w: dealer %d, slot %d", ErrBadShares, d.Dealer, b)
		}
		shares[b] = s
	}
	return shares, nil
}

// pairwiseKey returns K = sk·E after checking sk against replica me's key.
func pairwiseKey(p Params, me int, sk group.Scalar, eph group.Point) (group.Point, error) {
	if err := checkKey(p, me, sk); err != nil {
		return nil, err
	}
	return eph.Mul(sk), nil
}

// checkKey checks that sk is replica me's secret key, so that a wrong key
// gives ErrWrongKey rather than complaints against every dealer.
func checkKey(p Params, me int, sk group.Scalar) error {
	if !p.inRange(me) {
		return ErrInvalidIndex
	}
	ec := group.Secp256k1()
	if sk == nil || !ec.BaseMul(sk).Equal(p.replicaKey(me)) {
		return ErrWrongKey
	}
	return nil
}

// NewComplaint builds replica me's provable complaint against dealing d: it
// reveals K = sk·E_i and proves log_G(PK_me) = log_{E_i}(K) (ETHDKG). It does
// not check that the complaint is justified; [RespondTo] complains only
// about shares that fail. (Tests use it directly to model false complaints.)
func NewComplaint(p Params, me int, sk group.Scalar, d *Dealing, rand io.Reader) (Complaint, error) {
	k, err := pairwiseKey(p, me, sk, d.Ephemeral)
	if err != nil {
		return Complaint{}, err
	}
	ec := group.Secp256k1()
	proof, err := dleq.Prove(ec, p.dst("complaint", d.Dealer, me), ec.Generator(), d.Ephemeral, p.replicaKey(me), k, sk, rand)
	if err != nil {
		return Complaint{}, fmt.Errorf("dkg: prove complaint: %w", err)
	}
	return Complaint{Dealer: d.Dealer, Key: k, Proof: proof}, nil
}

// RespondTo computes replica me's [Response] to the closed dealings (those
// returned by [Session.Dealings]): it decrypts its shares from each dealing
// and complains about every dealer whose shares fail their commitments.
// sk is me's long-term secp256k1 secret key.
func RespondTo(p Params, me int, sk group.Scalar, dealings []*Dealing, rand io.Reader) (*Response, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ds := slices.Clone(dealings)
	slices.SortFunc(ds, func(a, b *Dealing) int { return a.Dealer - b.Dealer })
	for k, d := range ds {
		if err := d.Check(p); err != nil {
			return nil, fmt.Errorf("dkg: respond: %w", err)
		}
		if k > 0 && ds[k-1].Dealer == d.Dealer {
			return nil, fmt.Errorf("dkg: respond: two dealings from dealer %d", d.Dealer)
		}
	}
	return respond(p, me, sk, ds, rand)
}

// respond is [RespondTo] for dealings already checked against p
// ([Dealing.Check]), in increasing dealer order without repeats.
func respond(p Params, me int, sk group.Scalar, ds []*Dealing, rand io.Reader) (*Response, error) {
	if len(ds) > 0 {
		if err := checkKey(p, me, sk); err != nil {
			return nil, err
		}
	}
	// Decrypt every dealing's shares, then check all of them at once
	// (batch.go: one base multiplication and one multi-scalar
	// multiplication for every dealing together); only if that fails are
	// the dealings checked one by one to find the bad ones.
	bad := make([]bool, len(ds))
	shares := make([][]group.Scalar, len(ds))
	for k, d := range ds {
		key := d.Ephemeral.Mul(sk) // K = sk·E, sk checked above
		var err error
		if shares[k], err = decryptShares(p, d, me, key); errors.Is(err, ErrBadShares) {
			bad[k] = true // a share that is not even a scalar
		} else if err != nil {
			return nil, err
		}
	}
	if !allSharesMatch(p, me, ds, shares, bad) {
		for k, d := range ds {
			if !bad[k] {
				bad[k] = checkShares(p, d, me, shares[k]) != nil
			}
		}
	}
	r := &Response{Sender: me, Complaints: []Complaint{}}
	for k, d := range ds {
		if !bad[k] {
			continue
		}
		c, err := NewComplaint(p, me, sk, d, rand)
		if err != nil {
			return nil, err
		}
		r.Complaints = append(r.Complaints, c)
	}
	return r, nil
}
