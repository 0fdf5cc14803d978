package dkg

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/vss"
)

// Batch verification of shares.
//
// Checking Batch shares one by one against their Feldman commitments costs
// Batch constant-time base multiplications. Instead a recipient j checks a
// random linear combination of them (Bellare, Garay, Rabin, "Fast batch
// verification for modular exponentiation and digital signatures",
// EUROCRYPT 1998, small-exponents test):
//
//	(Σ_b r_b·s_b)·G == Σ_b r_b·Σ_k j^k·A_b,k = Σ_{b,k} (r_b·j^k)·A_b,k
//
// with 128-bit coefficients r_b. If some share is wrong, say
// s_b·G − Σ_k j^k·A_b,k = δ_b·G with δ_b ≠ 0, the check passes only if
// Σ_b r_b·δ_b = 0, which for any fixed δ holds for at most one value of the
// coefficient of a non-zero δ_b given the others: probability ≤ 2^-128. The
// coefficients are a Fiat–Shamir hash of everything that fixes the shares and
// commitments (the whole canonical dealing: commitments and ciphertexts,
// whose decryption under the pairwise key determines the shares) and of the
// recipient, so a dealer cannot choose δ after seeing r; grinding dealings
// costs a hash per 2^-128 chance. A responding recipient checks the shares
// of every closed dealing in one such combination (allSharesMatch), with
// coefficients hashed from all the dealings, which are all fixed in the log
// before the check; if it fails, each dealing is checked with its own
// combination to name the bad ones. The left side is secret and is computed with
// one constant-time [group.Group.BaseMul]; the right side is public: each
// commitment evaluated at j ([group.EvalPublic], additions only for an
// index), then one variable-time [group.MultiMulPublic] over those values
// with the coefficients r_b. Correct shares always pass, so a
// failure proves a bad share: judging a complaint uses the combined check
// alone, while a recipient's own check (openShares) and Session.Shares then
// fall back to checking slot by slot so that errors still name the slot. The
// batch check never changes an outcome except with probability 2^-128 per
// dealing.

// batchCoeffLen is the length of a batch-verification coefficient in bytes
// (128 bits).
const batchCoeffLen = 16

// shareCheckSeed returns the Fiat–Shamir seed of recipient j's batch check of
// the dealing whose canonical encoding is dealing.
func shareCheckSeed(p Params, dealer, j int, dealing []byte) [32]byte {
	h := sha256.New()
	writeHashed(h, p.dst("batch-share-check", dealer, j))
	writeHashed(h, dealing)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// respondCheckSeed returns the Fiat–Shamir seed of recipient j's batch
// check of the shares of every closed dealing at once: it binds the
// canonical encoding of each dealing (each names its dealer), which
// together fix every share and commitment checked.
func respondCheckSeed(p Params, j int, dealings [][]byte) [32]byte {
	h := sha256.New()
	writeHashed(h, p.dst("batch-respond-check", j))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(dealings)))
	h.Write(n[:])
	for _, d := range dealings {
		writeHashed(h, d)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// allSharesMatch reports whether recipient j's decrypted shares of every
// dealing not marked bad match their commitments, with one batch check
// across all of them: Σ_{i,b} r_i,b·s_i,b·G == Σ_{i,b,k} (r_i,b·j^k)·A_i,b,k,
// coefficients from [respondCheckSeed] over every dealing. The secret
// side is one constant-time [group.Group.BaseMul], the public side one
// [group.MultiMulPublic] over the commitments of all the dealings, instead
// of one of each per dealing. Correct shares always match; if any share is
// bad the check fails except with probability 2^-128, and the caller then
// checks the dealings one by one to name the bad ones. It reports true when
// no dealing is left to check.
func allSharesMatch(p Params, j int, ds []*Dealing, shares [][]group.Scalar, bad []bool) bool {
	var coms []vss.Commitment
	var flat []group.Scalar
	encs := make([][]byte, 0, len(ds))
	for k, d := range ds {
		if bad[k] {
			continue
		}
		coms = append(coms, d.Commitments...)
		flat = append(flat, shares[k]...)
		encs = append(encs, d.Marshal())
	}
	if len(flat) == 0 {
		return true
	}
	r := batchCoefficients(p.Group, respondCheckSeed(p, j, encs), len(flat))
	return batchVerify(p.Group, coms, j, flat, r)
}

// sumCheckSeed returns the Fiat–Shamir seed of replica me's batch check of
// its summed shares against the summed commitments: it binds the canonical
// encodings of every qualified dealing (each names its dealer), which
// together fix both sides.
func sumCheckSeed(p Params, me int, qualified [][]byte) [32]byte {
	h := sha256.New()
	writeHashed(h, p.dst("batch-sum-check", me))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(qualified)))
	h.Write(n[:])
	for _, d := range qualified {
		writeHashed(h, d)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// writeHashed writes an 8-byte big-endian length and then x, so that
// consecutive fields cannot run into each other.
func writeHashed(h hash.Hash, x []byte) {
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(x)))
	h.Write(l[:])
	h.Write(x)
}

// batchCoefficients expands seed into count 128-bit scalars of g:
// r_b = the first 16 bytes of SHA-256(seed ‖ "coefficient" ‖ b).
func batchCoefficients(g group.Group, seed [32]byte, count int) []group.Scalar {
	out := make([]group.Scalar, count)
	buf := make([]byte, g.ScalarLen())
	for b := range out {
		h := sha256.New()
		h.Write(seed[:])
		h.Write([]byte("coefficient"))
		var idx [4]byte
		binary.BigEndian.PutUint32(idx[:], uint32(b))
		h.Write(idx[:])
		var d [32]byte
		h.Sum(d[:0])
		clear(buf)
		copy(buf[len(buf)-batchCoeffLen:], d[:batchCoeffLen])
		s, err := g.DecodeScalar(buf)
		if err != nil {
			// Unreachable: 2^128 is below both group orders.
			panic("dkg: 128-bit coefficient does not decode")
		}
		out[b] = s
	}
	return out
}

// batchVerify reports whether (Σ_b r_b·shares[b])·G == Σ_b r_b·commitments[b].Eval(j),
// the combined Feldman check of shares against commitments with
// coefficients r. The shares are secret: they are combined with
// constant-time scalar arithmetic and multiplied with the constant-time
// BaseMul. Everything else is public and goes through one MultiMulPublic.
// It returns false for mismatched lengths, an index outside
// 1..vss.MaxIndex, or a nil element.
func batchVerify(g group.Group, commitments []vss.Commitment, j int, shares, r []group.Scalar) bool {
	if len(commitments) != len(shares) || len(r) != len(shares) || len(shares) == 0 || j < 1 || j > vss.MaxIndex {
		return false
	}
	sigma := g.Zero()
	for b, s := range shares {
		if s == nil {
			return false
		}
		sigma = sigma.Add(r[b].Mul(s))
	}
	lhs := g.BaseMul(sigma)

	// Σ_b r_b·Σ_k j^k·A_b,k = Σ_b r_b·E_b with E_b = Σ_k j^k·A_b,k the
	// commitment evaluated at j: a few additions each for a small index,
	// then one multi-scalar multiplication over Batch points rather than
	// Batch·(T+1).
	deg := len(commitments[0]) - 1
	polys := make([][]group.Point, len(commitments))
	for b, c := range commitments {
		if len(c) != deg+1 {
			return false
		}
		polys[b] = c
	}
	evals, err := group.EvalPublic(g, polys, uint64(j))
	if err != nil {
		return false
	}
	rhs, err := group.MultiMulPublic(g, evals, r)
	if err != nil {
		return false
	}
	return lhs.Equal(rhs)
}
