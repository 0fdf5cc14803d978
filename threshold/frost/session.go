package frost

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/vhsm/vhsm/threshold/group"
	"github.com/vhsm/vhsm/threshold/schnorr"
	"github.com/vhsm/vhsm/threshold/vss"
)

// SigningPackage is what all signers of one session use (RFC 9591 §5.2
// commitment_list and msg): the commitments of the chosen signers, in any
// order (they are sorted by ID inside, RFC 9591 §4.3), with distinct IDs,
// and the message, of any length.
//
// The package must list at least t+1 signers for the signature to verify;
// this package does not know t, so the caller checks it. Fewer signers
// give an invalid signature, never a leak: each share is masked by its
// signer's fresh nonce.
type SigningPackage struct {
	Commitments []Commitment
	Message     []byte
}

// Session is one signing package prepared for one key ([Suite.Prepare]):
// the sorted commitment list, every binding factor, the group commitment R
// the challenge and every Lagrange coefficient are computed once, so that
// signing, verifying the shares of every signer and aggregating cost no
// further hashing or inversion. A Session is immutable after Prepare and
// safe for concurrent use.
type Session struct {
	suite Suite
	key   *Key
	// commitments is the package's list sorted by ID.
	commitments []Commitment
	// rho[i] is the binding factor of commitments[i] (RFC 9591 §4.4).
	rho []group.Scalar
	// lambda[i] is λ of commitments[i].ID (RFC 9591 §4.2).
	lambda []group.Scalar
	ids    []int
	// r is the group commitment R (RFC 9591 §4.5); rNeg reports that R has
	// odd Y under Taproot, so every nonce is negated (BIP-340 Sign step 6).
	r    group.Point
	rNeg bool
	// c is the challenge (RFC 9591 §4.6).
	c group.Scalar
	// prefix is rho_input_prefix (RFC 9591 §4.4), kept for the vectors.
	prefix []byte
}

// Prepare validates pkg and computes everything its signers and its
// aggregator share (RFC 9591 §5.2 sign steps before the share itself):
// the encoded commitment list (§4.3), the binding factors (§4.4), the
// group commitment R (§4.5) and the challenge (§4.6). It returns an error
// wrapping ErrNoCommitments, ErrInvalidID, ErrDuplicateID,
// ErrIdentityCommitment or ErrIdentityNonce for a bad package, and
// ErrInvalidKey for a nil key or one prepared for another suite.
func (s Suite) Prepare(pkg *SigningPackage, key *Key) (*Session, error) {
	if !s.valid() {
		return nil, ErrUnknownSuite
	}
	if key == nil || key.suite != s {
		return nil, fmt.Errorf("prepare: %w", ErrInvalidKey)
	}
	if pkg == nil || len(pkg.Commitments) == 0 {
		return nil, fmt.Errorf("prepare: %w", ErrNoCommitments)
	}
	if len(pkg.Commitments) > MaxID {
		return nil, fmt.Errorf("prepare: %w", ErrDuplicateID)
	}
	n := len(pkg.Commitments)
	ss := &Session{
		suite:       s,
		key:         key,
		commitments: slices.Clone(pkg.Commitments),
		rho:         make([]group.Scalar, n),
		ids:         make([]int, n),
	}
	// RFC 9591 §4.3: commitment_list "MUST be sorted in ascending order by
	// identifier".
	slices.SortFunc(ss.commitments, func(a, b Commitment) int { return a.ID - b.ID })
	for i, c := range ss.commitments {
		if c.ID < 1 || c.ID > MaxID {
			return nil, fmt.Errorf("prepare: %w", ErrInvalidID)
		}
		if i > 0 && ss.commitments[i-1].ID == c.ID {
			return nil, fmt.Errorf("prepare: %w", ErrDuplicateID)
		}
		if !usablePoint(c.Hiding) || !usablePoint(c.Binding) {
			return nil, fmt.Errorf("prepare: commitment of %d: %w", c.ID, ErrIdentityCommitment)
		}
		ss.ids[i] = c.ID
	}

	// RFC 9591 §4.3 encode_group_commitment_list: for each (identifier,
	// hiding_nonce_commitment, binding_nonce_commitment):
	// G.SerializeScalar(identifier) ‖ G.SerializeElement(hiding) ‖
	// G.SerializeElement(binding).
	const itemLen = 32 + 33 + 33
	encoded := make([]byte, 0, n*itemLen)
	for _, c := range ss.commitments {
		id := idScalar(c.ID)
		encoded = append(encoded, id[:]...)
		encoded = append(encoded, c.Hiding.Bytes()...)
		encoded = append(encoded, c.Binding.Bytes()...)
	}

	// RFC 9591 §4.4 compute_binding_factors:
	//   group_public_key_enc = G.SerializeElement(group_public_key)
	//   msg_hash = H4(msg)
	//   encoded_commitment_hash = H5(encode_group_commitment_list(commitment_list))
	//   rho_input_prefix = group_public_key_enc ‖ msg_hash ‖ encoded_commitment_hash
	//   for each identifier: rho_input = rho_input_prefix ‖ G.SerializeScalar(identifier)
	//                        binding_factor = H1(rho_input)
	msgHash := s.h4(pkg.Message)
	comHash := s.h5(encoded)
	prefix := make([]byte, 0, len(key.enc)+64)
	prefix = append(append(append(prefix, key.enc...), msgHash[:]...), comHash[:]...)
	for i, c := range ss.commitments {
		id := idScalar(c.ID)
		ss.rho[i] = s.h1(prefix, id[:])
	}
	ss.prefix = prefix

	// RFC 9591 §4.5 compute_group_commitment:
	//   group_commitment = Σ hiding_nonce_commitment + binding_nonce_commitment·binding_factor
	// All inputs are public: one variable-time multi-scalar multiplication
	// of Σ 1·D_j + ρ_j·E_j (the unit terms are plain additions there), with
	// a single conversion to affine.
	points := make([]group.Point, 0, 2*n)
	scalars := make([]group.Scalar, 0, 2*n)
	one := secp().ScalarFromUint64(1)
	for i, c := range ss.commitments {
		points = append(points, c.Hiding, c.Binding)
		scalars = append(scalars, one, ss.rho[i])
	}
	R, err := group.MultiMulPublic(secp(), points, scalars)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", ErrIdentityCommitment)
	}
	if R.IsIdentity() {
		// RFC 9591 §4.5 SerializeElement(group_commitment) fails on the identity.
		return nil, fmt.Errorf("prepare: %w", ErrIdentityNonce)
	}
	ss.r = R
	// BIP-340 Sign step 6: let k = k' if has_even_y(R), otherwise n − k'
	// (frost-secp256k1-tr compute_signature_share negates the nonces).
	ss.rNeg = s.taproot() && !group.HasEvenY(R)

	// RFC 9591 §4.6 compute_challenge (Taproot: BIP-340 Sign step 7).
	ss.c = s.challenge(R, key, pkg.Message)
	// RFC 9591 §4.2 derive_interpolating_value, for every signer.
	ss.lambda = lagrangeFor(ss.ids)
	return ss, nil
}

// idScalar is G.SerializeScalar(identifier): the identifier as a 32-byte
// big-endian scalar (RFC 9591 §3, §6.5).
func idScalar(id int) [32]byte {
	var b [32]byte
	binary.BigEndian.PutUint64(b[24:], uint64(id))
	return b
}

// index returns the position of id in the sorted commitment list.
func (ss *Session) index(id int) (int, bool) {
	return slices.BinarySearch(ss.ids, id)
}

// IDs returns the signers' identifiers in ascending order.
func (ss *Session) IDs() []int { return slices.Clone(ss.ids) }

// GroupCommitment returns R (RFC 9591 §4.5 group_commitment), of either Y
// parity.
func (ss *Session) GroupCommitment() group.Point { return ss.r }

// Challenge returns the challenge c (RFC 9591 §4.6).
func (ss *Session) Challenge() group.Scalar { return ss.c }

// BindingFactor returns signer id's binding factor ρ_id (RFC 9591 §4.4),
// or an error wrapping ErrUnknownID.
func (ss *Session) BindingFactor(id int) (group.Scalar, error) {
	i, ok := ss.index(id)
	if !ok {
		return nil, fmt.Errorf("binding factor: %w", ErrUnknownID)
	}
	return ss.rho[i], nil
}

// bindingFactorInput returns RFC 9591 §4.4 rho_input of id (for the
// vectors' binding_factor_input).
func (ss *Session) bindingFactorInput(id int) []byte {
	b := idScalar(id)
	return append(slices.Clone(ss.prefix), b[:]...)
}

// Lagrange returns the Lagrange coefficient at 0 of id over the package's
// identifiers (RFC 9591 §4.2 derive_interpolating_value), or an error
// wrapping ErrUnknownID.
func (ss *Session) Lagrange(id int) (group.Scalar, error) {
	i, ok := ss.index(id)
	if !ok {
		return nil, fmt.Errorf("lagrange: %w", ErrUnknownID)
	}
	return ss.lagrange(i), nil
}

func (ss *Session) lagrange(i int) group.Scalar { return ss.lambda[i] }

// lagrangeCache holds the Lagrange coefficients of the signer sets seen,
// keyed by the sorted identifiers: they depend on nothing else (public),
// and a cluster signs with few sets (at most C(n, t+1)), so the inversion
// of lagrangeAll runs once per set instead of at every Prepare. The
// slices are shared by Sessions and never modified (scalars are
// immutable values).
var lagrangeCache struct {
	mu sync.Mutex
	m  map[string][]group.Scalar
}

// maxLagrangeSets bounds lagrangeCache (it is emptied when full).
const maxLagrangeSets = 1 << 12

// lagrangeFor returns lagrangeAll(ids), cached.
func lagrangeFor(ids []int) []group.Scalar {
	key := make([]byte, 0, 2*len(ids))
	for _, id := range ids {
		key = binary.BigEndian.AppendUint16(key, uint16(id)) // ids are 1..MaxID
	}
	lagrangeCache.mu.Lock()
	l := lagrangeCache.m[string(key)]
	lagrangeCache.mu.Unlock()
	if l != nil {
		return l
	}
	l = lagrangeAll(ids)
	lagrangeCache.mu.Lock()
	if lagrangeCache.m == nil || len(lagrangeCache.m) >= maxLagrangeSets {
		lagrangeCache.m = map[string][]group.Scalar{}
	}
	lagrangeCache.m[string(key)] = l
	lagrangeCache.mu.Unlock()
	return l
}

// lagrangeAll returns λ_i for every identifier of the sorted, checked list
// ids (RFC 9591 §4.2 derive_interpolating_value: λ_i = Π_{j≠i} x_j /
// Π_{j≠i} (x_j − x_i)), with one field inversion for all of them
// (Montgomery's trick) instead of one per signer as vss.LagrangeCoefficient
// does; TestLagrangeMatchesVSS checks that the two agree. The identifiers
// are public.
func lagrangeAll(ids []int) []group.Scalar {
	g := secp()
	n := len(ids)
	xs := make([]group.Scalar, n)
	for i, id := range ids {
		xs[i] = g.ScalarFromUint64(uint64(id))
	}
	nums := make([]group.Scalar, n)
	dens := make([]group.Scalar, n)
	for i := range ids {
		num, den := g.ScalarFromUint64(1), g.ScalarFromUint64(1)
		for j := range ids {
			if j != i {
				num = num.Mul(xs[j])
				den = den.Mul(xs[j].Sub(xs[i])) // non-zero: distinct ids below n
			}
		}
		nums[i], dens[i] = num, den
	}
	// Batch inversion: prefix[i] = Π_{k<i} dens[k].
	prefix := make([]group.Scalar, n)
	acc := g.ScalarFromUint64(1)
	for i := range dens {
		prefix[i] = acc
		acc = acc.Mul(dens[i])
	}
	inv := acc.Inv()
	out := make([]group.Scalar, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = nums[i].Mul(inv.Mul(prefix[i])) // inv = (Π_{k≤i} dens[k])⁻¹
		inv = inv.Mul(dens[i])
	}
	return out
}

// Lagrange returns the Lagrange coefficient at 0 of id over the identifiers
// of pkg (RFC 9591 §4.2 derive_interpolating_value). It returns an error
// wrapping ErrInvalidID, ErrDuplicateID or ErrUnknownID for a bad set.
func Lagrange(pkg *SigningPackage, id int) (group.Scalar, error) {
	if pkg == nil || len(pkg.Commitments) == 0 {
		return nil, fmt.Errorf("lagrange: %w", ErrNoCommitments)
	}
	ids := make([]int, len(pkg.Commitments))
	for i, c := range pkg.Commitments {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	for i, x := range ids {
		if x < 1 || x > MaxID {
			return nil, fmt.Errorf("lagrange: %w", ErrInvalidID)
		}
		if i > 0 && ids[i-1] == x {
			return nil, fmt.Errorf("lagrange: %w", ErrDuplicateID)
		}
	}
	if _, ok := slices.BinarySearch(ids, id); !ok {
		return nil, fmt.Errorf("lagrange: %w", ErrUnknownID)
	}
	return vss.LagrangeCoefficient(secp(), ids, id)
}

// Sign returns signer id's signature share z_id (RFC 9591 §5.2 sign) with
// share x_id of the untweaked group key P and the nonce whose commitment
// the package lists for id:
//
//	z_i = d_i + e_i·ρ_i + λ_i·x_i·c                  (RFC9591)
//	z_i = σ_R·(d_i + e_i·ρ_i) + λ_i·c·σ_Q·(σ_P·x_i + t)  (Taproot)
//
// with σ_P, σ_Q, σ_R = −1 when P, Q, R have odd Y (BIP-340 Sign steps 3
// and 6, BIP-341 taproot_tweak_seckey; frost-secp256k1-tr pre_sign,
// KeyPackage::tweak and compute_signature_share), and x_i + δ in place of
// x_i for a key from [Suite.NewDerivedKey]. Sign refuses an id not
// in the package (ErrUnknownID), a package commitment for id that is not
// nonce's (ErrCommitmentMismatch: a coordinator may not substitute it), a
// nil or zero share or nonce (ErrInvalidKey). The nonce must never sign
// again: call [Nonce.Wipe] after Sign, whatever the outcome.
func (ss *Session) Sign(id int, share group.Scalar, nonce *Nonce) (group.Scalar, error) {
	i, ok := ss.index(id)
	if !ok {
		return nil, fmt.Errorf("sign: %w", ErrUnknownID)
	}
	if !usableScalar(share) || !nonce.usable() {
		return nil, fmt.Errorf("sign: %w", ErrInvalidKey)
	}
	// RFC 9591 §5.2: the signer's own commitment must be in commitment_list
	// (frost-core round2::sign: IncorrectCommitment).
	if !nonce.Commit(id).equal(ss.commitments[i]) {
		return nil, fmt.Errorf("sign: %w", ErrCommitmentMismatch)
	}
	// RFC 9591 §5.2 sign:
	//   binding_factor = binding_factor_for_participant(binding_factor_list, identifier)
	//   lambda_i = derive_interpolating_value(participant_list, identifier)
	//   sig_share = hiding_nonce + (binding_nonce * binding_factor) + (lambda_i * sk_i * challenge)
	k := nonce.Hiding.Add(nonce.Binding.Mul(ss.rho[i]))
	if ss.rNeg {
		k = k.Neg() // BIP-340 Sign step 6 (public parity bit)
	}
	x := ss.key.effectiveShare(share)
	z := k.Add(ss.lagrange(i).Mul(ss.c).Mul(x))
	return z, nil
}

// VerifyShare checks signer id's signature share z against its
// verification key vk = x_id·G of the untweaked group key P (as evaluated
// from the Feldman commitments), RFC 9591 §5.4 verify_signature_share:
//
//	z·G == σ_R·(D_i + ρ_i·E_i) + λ_i·c·σ_Q·(σ_P·vk + t·G)
//
// (σ and t as in Sign, all 1 and 0 for RFC9591; for a key from
// [Suite.NewDerivedKey] vk is still X_i of the group key and the check uses
// vk + δ·G). It returns nil for a
// valid share, an error wrapping ErrInvalidShare for an invalid one (the
// signer is at fault), ErrUnknownID for an id not in the package, and
// ErrInvalidKey for an unusable vk or a nil z.
func (ss *Session) VerifyShare(id int, vk group.Point, z group.Scalar) error {
	i, ok := ss.index(id)
	if !ok {
		return fmt.Errorf("verify share %d: %w", id, ErrUnknownID)
	}
	if !usablePoint(vk) || z == nil || !isSecpScalar(z) {
		return fmt.Errorf("verify share %d: %w", id, ErrInvalidKey)
	}
	c := ss.commitments[i]
	// comm_share = D_i + ρ_i·E_i; l = z·G; r = σ_R·comm_share + λ_i·c·vk' with
	// vk' = σ_Q·(σ_P·vk + t·G). Checked as
	//   z·G − σ_R·ρ_i·E_i − (λ_i·c·σ_Q)·(σ_P·vk + t·G) == σ_R·D_i,
	// one variable-time multi-scalar multiplication (all inputs public).
	g := secp()
	lc := ss.lagrange(i).Mul(ss.c)
	rho := ss.rho[i]
	D := c.Hiding
	if ss.rNeg {
		D = D.Neg()
	} else {
		rho = rho.Neg()
	}
	key := vk
	if ss.key.derivePoint != nil {
		key = key.Add(ss.key.derivePoint) // NewDerivedKey: X_i + δ·G
	}
	if ss.key.keyNeg != ss.key.qNeg { // σ_P = −1
		key = key.Neg()
	}
	if ss.key.tweakPoint != nil {
		key = key.Add(ss.key.tweakPoint)
	}
	if !ss.key.qNeg {
		lc = lc.Neg()
	}
	points := []group.Point{g.Generator(), c.Binding, key}
	scalars := []group.Scalar{z, rho, lc}
	lhs, err := group.MultiMulPublic(g, points, scalars)
	if err != nil {
		return fmt.Errorf("verify share %d: %w", id, ErrInvalidKey)
	}
	if !lhs.Equal(D) {
		return fmt.Errorf("verify share %d: %w", id, ErrInvalidShare)
	}
	return nil
}

// Aggregate combines the shares of every signer of the package, keyed by
// identifier, into the signature (RFC 9591 §5.3 aggregate: z = Σ z_i,
// signature (R, z)), encoded for the suite: bytes(R) ‖ z (64 bytes,
// BIP-340) for [Taproot], SerializeElement(R) ‖ z (65 bytes) for
// [RFC9591]. The Taproot tweak needs no separate term: each share already
// carries λ_i·c·σ_Q·t, and Σ λ_i = 1.
//
// Aggregate does not verify the shares or the result: a wrong share gives
// a signature that [Suite.Verify] rejects, after which the caller runs
// [Session.VerifyShare] on each share to name the culprit. It returns an
// error wrapping ErrMissingShare if a signer has no share (or a nil one)
// and ErrUnknownID for a share from outside the package.
func (ss *Session) Aggregate(shares map[int]group.Scalar) ([]byte, error) {
	if ss == nil || ss.r == nil {
		return nil, fmt.Errorf("aggregate: %w", ErrNoCommitments) // not from Prepare
	}
	for id := range shares {
		if _, ok := ss.index(id); !ok {
			return nil, fmt.Errorf("aggregate: share of %d: %w", id, ErrUnknownID)
		}
	}
	z := secp().Zero()
	for _, id := range ss.ids {
		zi, ok := shares[id]
		if !ok || zi == nil || !isSecpScalar(zi) {
			return nil, fmt.Errorf("aggregate: share of %d: %w", id, ErrMissingShare)
		}
		z = z.Add(zi)
	}
	if ss.suite.taproot() {
		// BIP-340 Sign step 10: sig = bytes(R) ‖ bytes((k + e·d) mod n).
		sig := make([]byte, 0, TaprootSignatureLen)
		rx := group.XOnly(ss.r)
		return append(append(sig, rx[:]...), z.Bytes()...), nil
	}
	// RFC 9591 Appendix A: SerializeElement(R) ‖ SerializeScalar(z).
	return append(ss.r.Bytes(), z.Bytes()...), nil
}

// Sign is [Suite.Prepare] followed by [Session.Sign].
func (s Suite) Sign(pkg *SigningPackage, key *Key, id int, share group.Scalar, nonce *Nonce) (group.Scalar, error) {
	ss, err := s.Prepare(pkg, key)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return ss.Sign(id, share, nonce)
}

// VerifyShare is [Suite.Prepare] followed by [Session.VerifyShare]. To
// check several shares of one package, Prepare once.
func (s Suite) VerifyShare(pkg *SigningPackage, key *Key, id int, vk group.Point, z group.Scalar) error {
	ss, err := s.Prepare(pkg, key)
	if err != nil {
		return fmt.Errorf("verify share: %w", err)
	}
	return ss.VerifyShare(id, vk, z)
}

// Aggregate is [Suite.Prepare] followed by [Session.Aggregate].
func (s Suite) Aggregate(pkg *SigningPackage, key *Key, shares map[int]group.Scalar) ([]byte, error) {
	ss, err := s.Prepare(pkg, key)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	return ss.Aggregate(shares)
}

// Verify reports whether sig is a valid signature on msg under key, as
// Aggregate makes them. [Taproot]: BIP-340 Verify under
// bytes(key.OutputKey()) (schnorr.Verify, messages of any length).
// [RFC9591] (RFC 9591 §6.5 / Appendix A, prime-order verification):
// R = DeserializeElement(sig[0:33]) (the identity and invalid points
// rejected), z = DeserializeScalar(sig[33:65]) (z < n), c = H2(R ‖ PK ‖
// msg), and z·G == R + c·PK.
func (s Suite) Verify(key *Key, msg, sig []byte) bool {
	if !s.valid() || key == nil || key.suite != s {
		return false
	}
	if s.taproot() {
		if len(sig) != TaprootSignatureLen {
			return false
		}
		// bytes(Q) = key.qx: the key's precomputed table saves lift_x and
		// the per-call table of Q.
		if tab := key.verifyTable(); tab != nil {
			return schnorr.VerifyTable(tab, msg, [TaprootSignatureLen]byte(sig))
		}
		return schnorr.VerifyPoint(key.q, msg, [TaprootSignatureLen]byte(sig))
	}
	if len(sig) != RFC9591SignatureLen {
		return false
	}
	g := secp()
	R, err := g.DecodePoint(sig[:33])
	if err != nil {
		return false
	}
	z, err := g.DecodeScalar(sig[33:])
	if err != nil {
		return false
	}
	c := s.challenge(R, key, msg)
	// z·G − c·PK == R, all public.
	lhs, err := group.MultiMulPublic(g, []group.Point{g.Generator(), key.q}, []group.Scalar{z, c.Neg()})
	if err != nil {
		return false
	}
	return lhs.Equal(R)
}
