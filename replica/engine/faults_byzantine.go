//go:build vhsm_byzantine

package engine

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// This file exists only in test binaries built with -tags vhsm_byzantine.
// When ByzantineEnv names a control file, the replica reads it at every
// hook (so a test switches behaviours without a restart) and misbehaves as
// it says: whitespace-separated words, none (or no file) meaning honest.
//
//	bad-schnorr        Schnorr partial signatures made with a wrong key share
//	bad-bls            BLS partial signatures made with a wrong key share
//	bad-dprf           DiSE DPRF evaluations with a wrong key share, so
//	                   their DLEQ proofs fail against the verification key
//	bad-deal=J         dealings whose shares for replica J are garbage
//	false-complaint=I  responses that also accuse the honest dealer I
//	silent             no answer to any client request, no DKG message
//
// Unknown words are ignored.

func init() {
	faultInjectionBuilt = true
	if path := os.Getenv(ByzantineEnv); path != "" {
		faults = byzantine{path: path}
		fmt.Fprintf(os.Stderr, "WARNING: vhsm_byzantine test build: fault injection controlled by %s\n", path)
	}
}

// byzantine reads its behaviour from the control file at path.
type byzantine struct{ path string }

// modes returns the active behaviours: word → argument ("" for none).
func (b byzantine) modes() map[string]string {
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, w := range strings.Fields(string(raw)) {
		k, v, _ := strings.Cut(w, "=")
		m[k] = v
	}
	return m
}

func (b byzantine) keyShare(op string, x group.Scalar) group.Scalar {
	if _, ok := b.modes()["bad-"+op]; !ok {
		return x
	}
	// A well-formed partial under the wrong share x+1: it decodes, but fails
	// verification against this replica's verification key.
	var one group.Group = group.Secp256k1()
	if op != "schnorr" {
		one = group.BLS12381G1()
	}
	return x.Add(one.ScalarFromUint64(1))
}

func (b byzantine) withhold() bool {
	_, ok := b.modes()["silent"]
	return ok
}

func (b byzantine) dkgMessage(e *Engine, sess *dkg.Session, msg dkg.Message) dkg.Message {
	modes := b.modes()
	switch m := msg.(type) {
	case *dkg.Dealing:
		j, err := strconv.Atoi(modes["bad-deal"])
		if err != nil || j < 1 || j > len(m.Ciphertexts) || j == e.cfg.Me {
			return msg
		}
		// Flip every byte of J's encrypted shares: they decrypt to values
		// that fail the commitments (or are not scalars at all).
		for k := range m.Ciphertexts[j-1] {
			m.Ciphertexts[j-1][k] ^= 0xff
		}
	case *dkg.Response:
		i, err := strconv.Atoi(modes["false-complaint"])
		if err != nil || i == e.cfg.Me || slices.ContainsFunc(m.Complaints, func(c dkg.Complaint) bool { return c.Dealer == i }) {
			return msg
		}
		for _, d := range sess.Dealings() {
			if d.Dealer != i {
				continue
			}
			c, err := dkg.NewComplaint(sess.Params(), e.cfg.Me, e.sk, d, e.cfg.Rand)
			if err != nil {
				return msg
			}
			m.Complaints = append(m.Complaints, c)
			slices.SortFunc(m.Complaints, func(a, b dkg.Complaint) int { return a.Dealer - b.Dealer })
		}
	}
	return msg
}
