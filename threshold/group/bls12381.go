package group

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/herumi/bls-eth-go-binary/bls"
	blst "github.com/supranational/blst/bindings/go"
)

// BLS12381G1 returns the group G1 of BLS12-381, the group of Ethereum
// validator public keys (pk in G1, signatures in G2). Points encode as
// 48-byte compressed points in the ZCash/Ethereum format; scalars as 32-byte
// big-endian integers below the subgroup order r.
//
// Arithmetic uses herumi's mcl (through bls-eth-go-binary, in Ethereum
// mode); scalar multiplication by secrets is constant time (G1MulCT).
func BLS12381G1() Group {
	InitBLS()
	return blsGroup{}
}

var (
	blsOnce    sync.Once
	blsInitErr error
)

// blsOrderBytes is the order r of G1 (and of the scalar field), big-endian:
// r = 0x73eda753…ffffffff00000001 (draft-irtf-cfrg-pairing-friendly-curves,
// BLS12-381). InitBLS checks it against herumi's.
var blsOrderBytes = [32]byte{
	0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48, 0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
	0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
}

// InitBLS initializes herumi's library for BLS12-381 in Ethereum mode
// (serialization, hash-to-curve and subgroup checks as in the consensus
// specs). It is idempotent and safe for concurrent use; every package that
// uses herumi directly calls it first.
func InitBLS() {
	blsOnce.Do(func() {
		if err := bls.Init(bls.BLS12_381); err != nil {
			blsInitErr = err
			return
		}
		if err := bls.SetETHmode(bls.EthModeLatest); err != nil {
			blsInitErr = err
			return
		}
		bls.SetETHserialization(true)
		bls.VerifyOrderG1(true)
		bls.VerifyOrderG2(true)
		if r, ok := new(big.Int).SetString(bls.GetCurveOrder(), 10); !ok ||
			r.Cmp(new(big.Int).SetBytes(blsOrderBytes[:])) != 0 {
			blsInitErr = errors.New("curve order differs from BLS12-381's r")
		}
	})
	if blsInitErr != nil {
		// The static library failed to initialize: nothing in this process
		// can do BLS arithmetic.
		panic(fmt.Sprintf("group: herumi BLS init: %v", blsInitErr))
	}
}

type blsGroup struct{}

type blsScalar struct{ s bls.Fr }

type blsPoint struct{ p bls.G1 }

func (blsGroup) Name() string   { return "bls12381g1" }
func (blsGroup) ScalarLen() int { return 32 }
func (blsGroup) PointLen() int  { return 48 }

func (blsGroup) Zero() Scalar {
	s := &blsScalar{}
	s.s.Clear()
	return s
}

func (blsGroup) ScalarFromUint64(v uint64) Scalar {
	var b [32]byte
	for i := 0; i < 8; i++ {
		b[31-i] = byte(v >> (8 * i))
	}
	s := &blsScalar{}
	if err := s.s.SetBigEndianMod(b[:]); err != nil {
		panic("group: herumi SetBigEndianMod on a small value failed")
	}
	return s
}

func (g blsGroup) RandomScalar(r io.Reader) (Scalar, error) {
	var b [32]byte
	defer clear(b[:])
	for range 128 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("group: read randomness: %w", err)
		}
		// r is a 255-bit prime: clear the top bit, then reject ≥ r.
		b[0] &= 0x7f
		s, err := g.DecodeScalar(b[:])
		if err == nil && !s.IsZero() {
			return s, nil
		}
	}
	return nil, errors.New("group: randomness source is degenerate")
}

func (blsGroup) DecodeScalar(b []byte) (Scalar, error) {
	if len(b) != 32 {
		return nil, ErrInvalidScalar
	}
	// The encoding may be a share or a key: compare it with r in constant
	// time (ctLess) and only then branch on the public outcome, valid or not.
	if ctLess(b, blsOrderBytes[:]) != 1 {
		return nil, ErrInvalidScalar
	}
	return blsFrom(b), nil
}

func (g blsGroup) HashToScalar(dst []byte, msg ...[]byte) Scalar {
	// RFC 9380 §5 hash_to_field with L = 48 for a 255-bit prime.
	u, err := expandMessageXMD(dst, 48, msg...)
	if err != nil {
		panic(err) // only with a DST over 255 bytes: a programming error
	}
	s := g.fromWide(u)
	clear(u)
	return s
}

// fromWide returns the big-endian integer b (at most 64 bytes) mod r, in
// constant time (blsFrom).
func (blsGroup) fromWide(b []byte) Scalar { return blsFrom(b) }

// blsChunk is the width of the pieces blsFrom loads into herumi: 24 bytes,
// so that a piece's top 64-bit word is zero.
const blsChunk = 24

// blsTwo192 is 2^192 mod r, the weight of one blsChunk.
var blsTwo192 = sync.OnceValue(func() bls.Fr {
	InitBLS()
	var f bls.Fr
	b := make([]byte, blsChunk+1)
	b[0] = 1
	if err := f.SetBigEndianMod(b); err != nil { // a public constant
		panic("group: herumi SetBigEndianMod on 2^192 failed")
	}
	return f
})

// blsFrom returns the big-endian integer b (at most 64 bytes) mod r, in
// time that depends only on len(b). herumi's loaders are not constant time
// in the value: setBigEndianMod reduces with mcl's variable-length integers
// (Vint), and setLittleEndian compares the value with r word by word from
// the top, stopping at the first difference (mcl bint::cmpGeN). So b is
// loaded in 24-byte pieces, each below 2^192: its top word is zero, below
// r's, and that comparison always stops at the first word. The pieces are
// combined by Horner's rule with 2^192 mod r, with herumi's Montgomery
// arithmetic, which secret shares already rely on.
func blsFrom(b []byte) *blsScalar {
	if len(b) > 64 {
		panic("group: BLS12-381 scalar from more than 64 bytes")
	}
	k := blsTwo192()
	var le [blsChunk]byte
	defer clear(le[:])
	r := &blsScalar{}
	r.s.Clear()
	// Pieces from the most significant: the first holds len(b) mod 24
	// bytes (or 24).
	first := len(b) % blsChunk
	if first == 0 {
		first = blsChunk
	}
	for start, end := 0, first; end <= len(b); start, end = end, end+blsChunk {
		// Reverse the big-endian piece into little-endian, zero-padded.
		clear(le[:])
		for i := start; i < end; i++ {
			le[end-1-i] = b[i]
		}
		var piece bls.Fr
		if err := piece.SetLittleEndian(le[:]); err != nil {
			panic("group: herumi SetLittleEndian failed")
		}
		bls.FrMul(&r.s, &r.s, &k)
		bls.FrAdd(&r.s, &r.s, &piece)
		piece.Clear()
	}
	return r
}

var blsGen = sync.OnceValue(func() *blsPoint {
	// The standard generator of G1 (draft-irtf-cfrg-pairing-friendly-curves).
	const g1 = "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
	b, err := hex.DecodeString(g1)
	p := &blsPoint{}
	if err != nil || p.p.Deserialize(b) != nil {
		panic("group: BLS12-381 generator does not decode")
	}
	return p
})

func (blsGroup) Generator() Point { return blsGen() }

func (blsGroup) Identity() Point {
	p := &blsPoint{}
	p.p.Clear()
	return p
}

func (blsGroup) DecodePoint(b []byte) (Point, error) {
	if len(b) != 48 {
		return nil, ErrInvalidPoint
	}
	// Compressed infinity: flags 0b110, all other bits zero.
	inf := make([]byte, 48)
	inf[0] = 0xc0
	if subtle.ConstantTimeCompare(b, inf) == 1 {
		return nil, ErrIdentityPoint
	}
	p := &blsPoint{}
	if err := p.p.Deserialize(b); err != nil {
		return nil, ErrInvalidPoint
	}
	// Deserialize checks the curve equation and, with VerifyOrderG1 (set
	// by InitBLS; TestBLSRejectsNonSubgroupPoint), the subgroup; insist on
	// the canonical encoding as well.
	if p.p.IsZero() || subtle.ConstantTimeCompare(p.p.Serialize(), b) != 1 {
		return nil, ErrInvalidPoint
	}
	return p, nil
}

func (g blsGroup) BaseMul(s Scalar) Point { return blsGen().Mul(s) }

// errLongDST is returned for a DST that RFC 9380 forbids (empty or over
// 255 bytes).
var errLongDST = errors.New("group: hash-to-curve DST must be 1 to 255 bytes")

// HashToG1 hashes msg to a point of BLS12-381 G1 with RFC 9380 suite
// BLS12381G1_XMD:SHA-256_SSWU_RO_ under the domain separation tag dst
// (at most 255 bytes). The result is never the identity except with
// negligible probability.
func HashToG1(msg, dst []byte) (Point, error) {
	InitBLS()
	if len(dst) == 0 || len(dst) > 255 {
		return nil, errLongDST
	}
	// blst takes the DST per call; herumi only has a process-wide one.
	// The result is in G1 by construction (hash_to_curve clears the
	// cofactor), so it is moved to herumi by its affine coordinates, without
	// the square root of a compressed decoding or a subgroup check (which
	// cost more than the hash itself).
	aff := blst.HashToG1(msg, dst).ToAffine()
	raw := aff.Serialize() // x ‖ y, big-endian, no flag bits for a finite point
	p := &blsPoint{}
	if len(raw) != 96 || raw[0]&0xe0 != 0 || p.p.X.Deserialize(raw[:48]) != nil || p.p.Y.Deserialize(raw[48:]) != nil {
		return nil, errors.New("group: hash to G1: unexpected point encoding")
	}
	p.p.Z.SetInt64(1)
	return p, nil
}

func asBLSScalar(s Scalar) *blsScalar {
	v, ok := s.(*blsScalar)
	if !ok {
		panic("group: BLS12-381 scalar mixed with another group's scalar")
	}
	return v
}

func asBLSPoint(p Point) *blsPoint {
	v, ok := p.(*blsPoint)
	if !ok {
		panic("group: BLS12-381 point mixed with another group's point")
	}
	return v
}

// DecodeG1Unchecked decodes a canonical compressed BLS12-381 G1 point that
// is on the curve and not the identity, WITHOUT checking that it lies in
// the prime-order subgroup (the check costs several times the decoding).
// Use it only for a point already checked in this process, or one whose
// use is checked afterwards by other means — as DiSE's optimistic
// decryption, where a wrong point gives a wrong output that the
// ciphertext's commitment refuses. Anything that relies on the group's
// prime order (a proof, a verification) needs [Group.DecodePoint].
func DecodeG1Unchecked(b []byte) (Point, error) {
	InitBLS()
	if len(b) != 48 {
		return nil, ErrInvalidPoint
	}
	aff := new(blst.P1Affine).Uncompress(b) // on the curve, x canonical; no subgroup check
	if aff == nil {
		return nil, ErrInvalidPoint
	}
	if subtle.ConstantTimeCompare(aff.Compress(), b) != 1 {
		return nil, ErrInvalidPoint
	}
	raw := aff.Serialize()
	p := &blsPoint{}
	if len(raw) != 96 || raw[0]&0xe0 != 0 || p.p.X.Deserialize(raw[:48]) != nil || p.p.Y.Deserialize(raw[48:]) != nil {
		return nil, ErrInvalidPoint // the identity (flag bits) or a bad coordinate
	}
	p.p.Z.SetInt64(1)
	return p, nil
}

// InG1 reports whether a BLS12-381 point lies in the prime-order subgroup
// G1: the check a point from [DecodeG1Unchecked] skipped, for a value
// computed from such points (dise.CombineConsistent). Every point from
// [Group.DecodePoint] or an operation on such points is in G1.
func InG1(p Point) bool { return asBLSPoint(p).p.IsValidOrder() }

// BLSFr exposes the herumi field element behind a BLS12-381 scalar, for the
// packages that call herumi directly (threshold/bls).
func BLSFr(s Scalar) *bls.Fr { return &asBLSScalar(s).s }

// BLSG1 exposes the herumi point behind a BLS12-381 G1 point.
func BLSG1(p Point) *bls.G1 { return &asBLSPoint(p).p }

func (a *blsScalar) Add(o Scalar) Scalar {
	r := &blsScalar{}
	bls.FrAdd(&r.s, &a.s, &asBLSScalar(o).s)
	return r
}

func (a *blsScalar) Sub(o Scalar) Scalar {
	r := &blsScalar{}
	bls.FrSub(&r.s, &a.s, &asBLSScalar(o).s)
	return r
}

func (a *blsScalar) Mul(o Scalar) Scalar {
	r := &blsScalar{}
	bls.FrMul(&r.s, &a.s, &asBLSScalar(o).s)
	return r
}

func (a *blsScalar) Neg() Scalar {
	r := &blsScalar{}
	bls.FrNeg(&r.s, &a.s)
	return r
}

func (a *blsScalar) Inv() Scalar {
	r := &blsScalar{}
	if a.s.IsZero() {
		r.s.Clear()
		return r
	}
	bls.FrInv(&r.s, &a.s)
	return r
}

func (a *blsScalar) Equal(o Scalar) bool {
	x, y := a.Bytes(), asBLSScalar(o).Bytes()
	eq := subtle.ConstantTimeCompare(x, y) == 1
	clear(x)
	clear(y)
	return eq
}

func (a *blsScalar) IsZero() bool { return a.s.IsZero() }

func (a *blsScalar) Bytes() []byte {
	// With Ethereum serialization on, Fr serializes big-endian, 32 bytes.
	return a.s.Serialize()
}

func (p *blsPoint) Add(o Point) Point {
	r := &blsPoint{}
	bls.G1Add(&r.p, &p.p, &asBLSPoint(o).p)
	return r
}

func (p *blsPoint) Sub(o Point) Point {
	r := &blsPoint{}
	bls.G1Sub(&r.p, &p.p, &asBLSPoint(o).p)
	return r
}

func (p *blsPoint) Neg() Point {
	r := &blsPoint{}
	bls.G1Neg(&r.p, &p.p)
	return r
}

func (p *blsPoint) Mul(s Scalar) Point {
	r := &blsPoint{}
	bls.G1MulCT(&r.p, &p.p, &asBLSScalar(s).s)
	return r
}

func (p *blsPoint) Equal(o Point) bool { return p.p.IsEqual(&asBLSPoint(o).p) }

func (p *blsPoint) IsIdentity() bool { return p.p.IsZero() }

func (p *blsPoint) Bytes() []byte { return p.p.Serialize() }
