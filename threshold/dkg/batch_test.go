package dkg

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// corrupt returns a copy of d in which recipient v's share in slot b is off
// by a small amount: the last (least significant) byte of the slot's
// ciphertext is flipped, so the share still decodes as a canonical scalar
// and only the commitment check can catch it.
func corrupt(p Params, d *Dealing, v, b int) *Dealing {
	c := *d
	c.Ciphertexts = slices.Clone(d.Ciphertexts)
	c.Ciphertexts[v-1] = bytes.Clone(d.Ciphertexts[v-1])
	sl := p.Group.ScalarLen()
	c.Ciphertexts[v-1][b*sl+sl-1] ^= 0x01
	return &c
}

// TestBadShareInAnySlot checks that a dealing with one bad share, in the
// first, a middle or the last slot, is detected by the recipient (which
// complains, its error naming dealer and slot), upheld when the complaint is
// applied (the dealer is named and disqualified), and named by Shares when the
// recipient did not complain in time — for both groups, (n, t) = (4, 1) and
// (7, 2), batch 1 and 64.
func TestBadShareInAnySlot(t *testing.T) {
	for _, g := range groups() {
		for _, n := range []int{4, 7} {
			for _, batch := range []int{1, 64} {
				f := newFixture(t, g, n, batch)
				honest := make([]*Dealing, n)
				for i := 1; i <= n; i++ {
					d, err := NewDealing(f.p, i, rand.Reader)
					if err != nil {
						t.Fatal(err)
					}
					honest[i-1] = d
				}
				cheat, victim := 2, n // dealer 2 cheats replica n
				for _, slot := range slices.Compact([]int{0, batch / 2, batch - 1}) {
					t.Run(fmt.Sprintf("%s/n=%d/t=%d/batch=%d/slot=%d", g.Name(), n, f.p.T, batch, slot), func(t *testing.T) {
						checkBadShare(t, f, honest, cheat, victim, slot)
					})
				}
			}
		}
	}
}

func checkBadShare(t *testing.T, f fixture, honest []*Dealing, cheat, victim, slot int) {
	p := f.p
	ds := slices.Clone(honest)
	ds[cheat-1] = corrupt(p, honest[cheat-1], victim, slot)

	// The recipient's own check names dealer and slot; the share decodes, so
	// it is the commitment check (batched, then slot by slot) that fails.
	k, err := pairwiseKey(p, victim, f.sks[victim-1], ds[cheat-1].Ephemeral)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decryptShares(p, ds[cheat-1], victim, k); err != nil {
		t.Fatalf("bad share does not decode: %v", err)
	}
	_, err = openShares(p, ds[cheat-1], victim, k)
	if want := fmt.Sprintf("dealer %d, slot %d", cheat, slot); !errors.Is(err, ErrBadShares) || !strings.Contains(err.Error(), want) {
		t.Fatalf("openShares: %v, want ErrBadShares naming %q", err, want)
	}
	// Every other dealing opens for the victim, and the bad one for others.
	for _, d := range ds {
		kd, _ := pairwiseKey(p, victim, f.sks[victim-1], d.Ephemeral)
		if _, err := openShares(p, d, victim, kd); (err != nil) != (d.Dealer == cheat) {
			t.Fatalf("dealer %d opens for the victim: %v", d.Dealer, err)
		}
	}

	// The other replicas' responses, empty.
	others := make([]*Response, p.N-1)
	for j := 1; j < p.N; j++ {
		r, err := RespondTo(p, j, f.sks[j-1], ds, rand.Reader)
		if err != nil || len(r.Complaints) != 0 {
			t.Fatalf("replica %d: %v %+v", j, err, r)
		}
		others[j-1] = r
	}

	// A session in which the victim complains in time: the dealer is named
	// and disqualified.
	s, err := NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if err := s.Apply(roundTrip(t, p.Group, d)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Respond(victim, f.sks[victim-1], rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Complaints) != 1 || r.Complaints[0].Dealer != cheat {
		t.Fatalf("victim's complaints %+v, want one against %d", r.Complaints, cheat)
	}
	var e *Error
	err = s.Apply(roundTrip(t, p.Group, r))
	if !errors.As(err, &e) || len(e.Culprits) != 1 ||
		e.Culprits[0] != (Culprit{Replica: cheat, Reason: ReasonBadShares, Other: victim}) {
		t.Fatalf("applying the complaint: %v", err)
	}
	for _, r := range others {
		if err := s.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Result()
	if err != nil || slices.Contains(res.Qualified, cheat) || len(res.Qualified) != p.N-1 {
		t.Fatalf("result %+v: %v", res, err)
	}
	if _, err := s.Shares(victim, f.sks[victim-1]); err != nil {
		t.Fatalf("victim's shares without the cheat: %v", err)
	}

	// A session in which the victim stays silent: Shares names the dealer.
	late, err := NewSession(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		_ = late.Apply(d)
	}
	for _, r := range others {
		if err := late.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	for j := 1; j <= p.F()+1; j++ {
		_ = late.Apply(&TimeoutVote{Sender: j, Phase: PhaseResponding})
	}
	if late.Status() != StatusDone {
		t.Fatalf("late session status %v", late.Status())
	}
	_, err = late.Shares(victim, f.sks[victim-1])
	if !errors.As(err, &e) || !errors.Is(err, ErrBadShares) || len(e.Culprits) != 1 ||
		e.Culprits[0] != (Culprit{Replica: cheat, Reason: ReasonBadShares, Other: victim}) {
		t.Fatalf("Shares of the silent victim: %v", err)
	}
	if _, err := late.Shares(1, f.sks[0]); err != nil {
		t.Fatalf("Shares of replica 1: %v", err)
	}
}

// TestBatchVerify checks the combined check itself: it accepts correct
// shares (so honest runs do not depend on the slot-by-slot fallback) and
// rejects one wrong share in every slot, a wrong commitment point and the
// wrong recipient.
func TestBatchVerify(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			f := newFixture(t, g, 7, 64)
			d, err := NewDealing(f.p, 3, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			const j = 5
			k, _ := pairwiseKey(f.p, j, f.sks[j-1], d.Ephemeral)
			shares, err := decryptShares(f.p, d, j, k)
			if err != nil {
				t.Fatal(err)
			}
			r := batchCoefficients(g, shareCheckSeed(f.p, d.Dealer, j, d.Marshal()), len(shares))
			if !batchVerify(g, d.Commitments, j, shares, r) {
				t.Fatal("correct shares rejected")
			}
			one := g.ScalarFromUint64(1)
			for b := range shares {
				bad := slices.Clone(shares)
				bad[b] = bad[b].Add(one)
				if batchVerify(g, d.Commitments, j, bad, r) {
					t.Fatalf("wrong share in slot %d accepted", b)
				}
			}
			for _, b := range []int{0, 63} {
				for kk := range d.Commitments[b] {
					cs := slices.Clone(d.Commitments)
					cs[b] = slices.Clone(cs[b])
					cs[b][kk] = cs[b][kk].Add(g.Generator())
					if batchVerify(g, cs, j, shares, r) {
						t.Fatalf("wrong commitment %d of slot %d accepted", kk, b)
					}
				}
			}
			if batchVerify(g, d.Commitments, j+1, shares, r) {
				t.Fatal("shares accepted for another recipient")
			}
			if batchVerify(g, d.Commitments, j, shares[:63], r[:63]) || batchVerify(g, d.Commitments, 0, shares, r) {
				t.Fatal("malformed input accepted")
			}
			nilShare := slices.Clone(shares)
			nilShare[7] = nil
			if batchVerify(g, d.Commitments, j, nilShare, r) {
				t.Fatal("nil share accepted")
			}
		})
	}
}

// TestBatchCoefficientsBinding checks that the batch coefficients change
// when any byte of the dealing, the recipient, the dealer index or the
// session changes, and likewise for the sum check's seed.
func TestBatchCoefficientsBinding(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			f := newFixture(t, g, 4, 2)
			d, err := NewDealing(f.p, 2, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			enc := d.Marshal()
			coeffs := func(p Params, dealer, j int, enc []byte) []string {
				var out []string
				for _, s := range batchCoefficients(g, shareCheckSeed(p, dealer, j, enc), 2) {
					out = append(out, string(s.Bytes()))
				}
				return out
			}
			base := coeffs(f.p, 2, 3, enc)
			if base[0] == base[1] {
				t.Fatal("two slots share a coefficient")
			}
			for _, c := range base {
				// 128-bit: the top half of the 256-bit encoding is zero.
				if b := []byte(c); !bytes.Equal(b[:16], make([]byte, 16)) || bytes.Equal(b[16:], make([]byte, 16)) {
					t.Fatalf("coefficient %x is not a non-zero 128-bit value", b)
				}
			}
			differs := func(name string, got []string) {
				t.Helper()
				for b := range got {
					if got[b] == base[b] {
						t.Fatalf("%s: coefficient %d unchanged", name, b)
					}
				}
			}
			for i := range enc {
				for _, mask := range []byte{0x01, 0x80} {
					mod := bytes.Clone(enc)
					mod[i] ^= mask
					differs(fmt.Sprintf("byte %d ^ %#x", i, mask), coeffs(f.p, 2, 3, mod))
				}
			}
			differs("truncated", coeffs(f.p, 2, 3, enc[:len(enc)-1]))
			for j := 1; j <= 4; j++ {
				if j != 3 {
					differs(fmt.Sprintf("recipient %d", j), coeffs(f.p, 2, j, enc))
				}
			}
			differs("dealer", coeffs(f.p, 1, 3, enc))
			other := f.p
			other.SessionID = []byte("another session")
			differs("session", coeffs(other, 2, 3, enc))
			if again := coeffs(f.p, 2, 3, bytes.Clone(enc)); !slices.Equal(again, base) {
				t.Fatal("coefficients are not deterministic")
			}

			// The sum check binds every qualified dealing and the recipient.
			d2, _ := NewDealing(f.p, 4, rand.Reader)
			encs := [][]byte{enc, d2.Marshal()}
			sum := func(me int, encs [][]byte) [32]byte { return sumCheckSeed(f.p, me, encs) }
			want := sum(1, encs)
			if sum(2, encs) == want || sum(1, encs[:1]) == want || sum(1, [][]byte{encs[1], encs[0]}) == want {
				t.Fatal("sum-check seed ignores the recipient or the qualified set")
			}
			for k := range encs {
				for i := range encs[k] {
					mod := slices.Clone(encs)
					mod[k] = bytes.Clone(encs[k])
					mod[k][i] ^= 0x01
					if sum(1, mod) == want {
						t.Fatalf("sum-check seed ignores byte %d of dealing %d", i, k)
					}
				}
			}
		})
	}
}

// BenchmarkOpenShares measures one recipient's check of one dealing
// (decryption, batch check), the unit of RespondTo's work.
func BenchmarkOpenShares(b *testing.B) {
	for _, g := range groups() {
		for _, n := range []int{4, 7} {
			f := newFixture(b, g, n, 64)
			d, _ := NewDealing(f.p, 1, rand.Reader)
			k, _ := pairwiseKey(f.p, 2, f.sks[1], d.Ephemeral)
			b.Run(fmt.Sprintf("%s/n=%d/batch=64", g.Name(), n), func(b *testing.B) {
				for b.Loop() {
					if _, err := openShares(f.p, d, 2, k); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSessionRespond measures what a replica runs per session:
// Session.Respond over N already-applied dealings (no re-check of the
// dealings' public structure and proofs, unlike RespondTo).
func BenchmarkSessionRespond(b *testing.B) {
	for _, g := range groups() {
		f := newFixture(b, g, 4, 64)
		s, _ := NewSession(f.p)
		for i := 1; i <= 4; i++ {
			d, _ := NewDealing(f.p, i, rand.Reader)
			if err := s.Apply(d); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("%s/batch=64", g.Name()), func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Respond(1, f.sks[0], rand.Reader); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRespondAcrossDealings: the recipient checks the shares of every
// dealing with one combined check; when dealers 2 and 5 send it a bad
// share (in different slots) and dealer 6 one that is not even a scalar,
// among 7 dealings, its response complains about exactly those three, in
// dealer order, and the other replicas complain about nobody.
func TestRespondAcrossDealings(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			const n, victim = 7, 3
			f := newFixture(t, g, n, 16)
			p := f.p
			ds := make([]*Dealing, n)
			for i := 1; i <= n; i++ {
				d, err := NewDealing(p, i, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				ds[i-1] = d
			}
			ds[1] = corrupt(p, ds[1], victim, 0)
			ds[4] = corrupt(p, ds[4], victim, 15)
			// Dealer 6: the plaintext of slot 7 is all ones, above the group
			// order, so the share does not decode.
			d6 := *ds[5]
			d6.Ciphertexts = slices.Clone(ds[5].Ciphertexts)
			k, err := pairwiseKey(p, victim, f.sks[victim-1], d6.Ephemeral)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := keystream(p, 6, victim, d6.Ephemeral, k)
			if err != nil {
				t.Fatal(err)
			}
			ct := bytes.Clone(d6.Ciphertexts[victim-1])
			sl := g.ScalarLen()
			for i := 7 * sl; i < 8*sl; i++ {
				ct[i] = 0xff ^ ks[i]
			}
			d6.Ciphertexts[victim-1] = ct
			ds[5] = &d6

			r, err := RespondTo(p, victim, f.sks[victim-1], ds, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			var accused []int
			for _, c := range r.Complaints {
				accused = append(accused, c.Dealer)
			}
			if !slices.Equal(accused, []int{2, 5, 6}) {
				t.Fatalf("complaints against %v, want [2 5 6]", accused)
			}
			for j := 1; j <= n; j++ {
				if j == victim {
					continue
				}
				r, err := RespondTo(p, j, f.sks[j-1], ds, rand.Reader)
				if err != nil || len(r.Complaints) != 0 {
					t.Fatalf("replica %d: %v %+v", j, err, r.Complaints)
				}
			}
			// The complaints are upheld: each names its dealer.
			s, err := NewSession(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if err := s.Apply(roundTrip(t, g, d)); err != nil {
					t.Fatal(err)
				}
			}
			var e *Error
			if err := s.Apply(roundTrip(t, g, r)); !errors.As(err, &e) || len(e.Culprits) != 3 {
				t.Fatalf("applying the complaints: %v", err)
			}
			for k, dealer := range []int{2, 5, 6} {
				if e.Culprits[k] != (Culprit{Replica: dealer, Reason: ReasonBadShares, Other: victim}) {
					t.Fatalf("culprit %d: %v", k, e.Culprits[k])
				}
			}
		})
	}
}
