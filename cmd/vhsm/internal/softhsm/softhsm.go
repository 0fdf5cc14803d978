// Package softhsm measures SoftHSM2, the software HSM a user would otherwise
// pick, through PKCS#11 (github.com/miekg/pkcs11): secp256k1 ECDSA signing
// throughput over one or more sessions and the rate of persisted EC key
// generation. It is the peer of vhsm bench --peer softhsm.
//
// Every measurement runs on a throw-away token: [Open] writes a private
// SOFTHSM2_CONF pointing at a fresh token directory under the system's
// temporary directory, initializes a token there with random SO and user
// PINs (never printed), and [Token.Close] finalizes the library and removes
// the directory. SoftHSM2 is process-global, so one Token at a time exists
// in a process; Open waits for the previous one to be closed.
package softhsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/miekg/pkcs11"
)

// Errors returned by the package.
var (
	// ErrNoModule is returned when no SoftHSM2 PKCS#11 library is found.
	ErrNoModule = errors.New("softhsm: libsofthsm2.so not found (install softhsm2)")
	// ErrBadSignature is returned when a signature made by the token does
	// not verify under the key's public key.
	ErrBadSignature = errors.New("softhsm: signature does not verify")
)

// ModulePaths are where [FindModule] looks for the SoftHSM2 library (Debian
// and Ubuntu first, then Fedora and source installs).
var ModulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/lib/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Limits of a measurement.
const (
	// MaxSessions bounds the concurrent sessions of [Token.BenchSign].
	MaxSessions = 64
	// MaxDuration bounds the duration of one measurement.
	MaxDuration = 10 * time.Minute
	// HashSize is the size of the message digest signed by CKM_ECDSA.
	HashSize = 32
)

// secp256k1OID is CKA_EC_PARAMS for secp256k1: the DER encoding of the
// named-curve OID 1.3.132.0.10 (SEC 2, section 2.4.1).
var secp256k1OID = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}

// tokenLabel is the label of the throw-away token.
const tokenLabel = "vhsm-bench"

// one serializes Tokens: SoftHSM2 is initialized once per process.
var one sync.Mutex

// FindModule returns the first of [ModulePaths] that exists.
func FindModule() (string, error) {
	for _, p := range ModulePaths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", ErrNoModule
}

// Token is an initialized throw-away SoftHSM2 token with a logged-in user
// session.
type Token struct {
	p      *pkcs11.Ctx
	dir    string
	slot   uint
	login  pkcs11.SessionHandle // keeps the user logged in
	closed bool
}

// Open loads the PKCS#11 library at module (FindModule's when empty),
// points it at a new temporary token directory and initializes a token
// there with random PINs. The caller must Close the token.
func Open(module string) (_ *Token, err error) {
	if module == "" {
		if module, err = FindModule(); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(module); err != nil {
		return nil, fmt.Errorf("softhsm: module: %w", err)
	}
	one.Lock()
	t := &Token{}
	defer func() {
		if err != nil {
			t.release()
		}
	}()
	if t.dir, err = os.MkdirTemp("", "vhsm-softhsm-"); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	tokens := filepath.Join(t.dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	conf := filepath.Join(t.dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}

	t.p = pkcs11.New(module)
	if t.p == nil {
		return nil, fmt.Errorf("softhsm: cannot load PKCS#11 library %s", module)
	}
	// SoftHSM2 reads SOFTHSM2_CONF in C_Initialize only: set it for that
	// call and restore the caller's environment afterwards.
	prev, had := os.LookupEnv("SOFTHSM2_CONF")
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	err = t.p.Initialize()
	if had {
		_ = os.Setenv("SOFTHSM2_CONF", prev)
	} else {
		_ = os.Unsetenv("SOFTHSM2_CONF")
	}
	if err != nil {
		t.p.Destroy()
		t.p = nil
		return nil, fmt.Errorf("softhsm: initialize: %w", err)
	}

	slots, err := t.p.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		return nil, fmt.Errorf("softhsm: no slot: %v", err)
	}
	soPIN, err := randomPIN()
	if err != nil {
		return nil, err
	}
	userPIN, err := randomPIN()
	if err != nil {
		return nil, err
	}
	if err := t.p.InitToken(slots[0], soPIN, tokenLabel); err != nil {
		return nil, fmt.Errorf("softhsm: init token: %w", err)
	}
	// SoftHSM2 moves an initialized token to a new slot: find it by label.
	if t.slot, err = t.findSlot(); err != nil {
		return nil, err
	}
	so, err := t.p.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("softhsm: open session: %w", err)
	}
	if err := t.p.Login(so, pkcs11.CKU_SO, soPIN); err != nil {
		return nil, fmt.Errorf("softhsm: SO login: %w", err)
	}
	if err := t.p.InitPIN(so, userPIN); err != nil {
		return nil, fmt.Errorf("softhsm: init PIN: %w", err)
	}
	if err := t.p.Logout(so); err != nil {
		return nil, fmt.Errorf("softhsm: SO logout: %w", err)
	}
	if err := t.p.CloseSession(so); err != nil {
		return nil, fmt.Errorf("softhsm: close session: %w", err)
	}
	if t.login, err = t.p.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
		return nil, fmt.Errorf("softhsm: open session: %w", err)
	}
	if err := t.p.Login(t.login, pkcs11.CKU_USER, userPIN); err != nil {
		return nil, fmt.Errorf("softhsm: user login: %w", err)
	}
	return t, nil
}

// findSlot returns the slot holding the initialized bench token.
func (t *Token) findSlot() (uint, error) {
	slots, err := t.p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("softhsm: slots: %w", err)
	}
	for _, s := range slots {
		ti, err := t.p.GetTokenInfo(s)
		if err == nil && ti.Label == tokenLabel && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 {
			return s, nil
		}
	}
	return 0, errors.New("softhsm: initialized token not found")
}

// Dir returns the temporary directory holding the token (removed by Close).
func (t *Token) Dir() string { return t.dir }

// Close logs out, finalizes the library and removes the token directory.
// It is safe to call more than once.
func (t *Token) Close() error {
	if t.closed {
		return nil
	}
	var err error
	if t.p != nil {
		_ = t.p.Logout(t.login)
		_ = t.p.CloseAllSessions(t.slot)
		if ferr := t.p.Finalize(); ferr != nil {
			err = fmt.Errorf("softhsm: finalize: %w", ferr)
		}
	}
	if rerr := t.release(); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// release unloads the library, removes the directory and lets the next
// Open proceed.
func (t *Token) release() error {
	if t.closed {
		return nil
	}
	t.closed = true
	defer one.Unlock()
	if t.p != nil {
		t.p.Destroy()
		t.p = nil
	}
	if t.dir != "" {
		if err := os.RemoveAll(t.dir); err != nil {
			return fmt.Errorf("softhsm: remove token directory: %w", err)
		}
	}
	return nil
}

// Key is a secp256k1 key pair generated on the token.
type Key struct {
	// Private is the handle of the private key (CKA_SIGN, non-extractable).
	Private pkcs11.ObjectHandle
	// Public is the public key, SEC 1 uncompressed (65 bytes).
	Public []byte
}

// GenerateKey generates a persisted (CKA_TOKEN=true) secp256k1 key pair in
// session sh (a session of this token; 0 for the login session).
func (t *Token) GenerateKey(sh pkcs11.SessionHandle) (*Key, error) {
	if sh == 0 {
		sh = t.login
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	label := "bench-" + hex.EncodeToString(id[:])
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, secp256k1OID),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id[:]),
	}
	privT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id[:]),
	}
	pub, priv, err := t.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}, pubT, privT)
	if err != nil {
		return nil, fmt.Errorf("softhsm: generate key pair: %w", err)
	}
	attrs, err := t.p.GetAttributeValue(sh, pub, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil || len(attrs) != 1 {
		return nil, fmt.Errorf("softhsm: read public key: %v", err)
	}
	point, err := unwrapECPoint(attrs[0].Value)
	if err != nil {
		return nil, err
	}
	return &Key{Private: priv, Public: point}, nil
}

// unwrapECPoint decodes CKA_EC_POINT: a DER OCTET STRING holding the SEC 1
// uncompressed point of secp256k1 (PKCS#11 v2.40 section 2.3.3).
func unwrapECPoint(b []byte) ([]byte, error) {
	const n = 65
	if len(b) != n+2 || b[0] != 0x04 || b[1] != n || b[2] != 0x04 {
		return nil, errors.New("softhsm: CKA_EC_POINT is not a DER-wrapped uncompressed secp256k1 point")
	}
	if _, err := btcec.ParsePubKey(b[2:]); err != nil {
		return nil, fmt.Errorf("softhsm: CKA_EC_POINT: %w", err)
	}
	return bytes.Clone(b[2:]), nil
}

// Sign signs the 32-byte digest hash with CKM_ECDSA in session sh (0 for
// the login session) and returns the raw r‖s signature.
func (t *Token) Sign(sh pkcs11.SessionHandle, k *Key, hash []byte) ([]byte, error) {
	if sh == 0 {
		sh = t.login
	}
	if err := t.p.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, k.Private); err != nil {
		return nil, fmt.Errorf("softhsm: sign init: %w", err)
	}
	sig, err := t.p.Sign(sh, hash)
	if err != nil {
		return nil, fmt.Errorf("softhsm: sign: %w", err)
	}
	return sig, nil
}

// Verify checks a raw r‖s ECDSA signature of hash under k's public key.
func Verify(k *Key, hash, sig []byte) error {
	pub, err := btcec.ParsePubKey(k.Public)
	if err != nil {
		return fmt.Errorf("softhsm: public key: %w", err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("%w: %d bytes", ErrBadSignature, len(sig))
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) || r.IsZero() || s.IsZero() {
		return ErrBadSignature
	}
	if !ecdsa.NewSignature(&r, &s).Verify(hash, pub) {
		return ErrBadSignature
	}
	return nil
}

// Result is one measurement: Count successful operations (with their
// latencies) and Errors failed ones in Elapsed.
type Result struct {
	Op        string // "sign" or "keygen"
	Sessions  int
	Count     int
	Errors    int
	Elapsed   time.Duration
	Latencies []time.Duration
	// FirstErr is the first failure, if any.
	FirstErr error
}

// OpsPerSec is Count divided by Elapsed.
func (r Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Count) / r.Elapsed.Seconds()
}

// BenchSign signs with one persisted secp256k1 key from sessions
// concurrent sessions, each signing a fresh 32-byte digest per operation,
// for d or until max signatures were started. The first signature of every
// session is verified after the measurement; a bad one is an error.
func (t *Token) BenchSign(ctx context.Context, sessions int, d time.Duration, max int) (Result, error) {
	if sessions < 1 || sessions > MaxSessions {
		return Result{}, fmt.Errorf("softhsm: sessions must be between 1 and %d", MaxSessions)
	}
	k, err := t.GenerateKey(0)
	if err != nil {
		return Result{}, err
	}
	var prefix [HashSize]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return Result{}, err
	}
	hash := func(i int) []byte {
		h := prefix
		big.NewInt(int64(i)).FillBytes(h[:8])
		return h[:]
	}
	type first struct {
		i   int
		sig []byte
	}
	firsts := make([]first, sessions)
	res, err := t.run(ctx, "sign", sessions, d, max, func(w int, sh pkcs11.SessionHandle, i int) error {
		sig, err := t.Sign(sh, k, hash(i))
		if err == nil && firsts[w].sig == nil {
			firsts[w] = first{i, sig}
		}
		return err
	})
	if err != nil {
		return res, err
	}
	for _, f := range firsts {
		if f.sig == nil {
			continue
		}
		if err := Verify(k, hash(f.i), f.sig); err != nil {
			return res, err
		}
	}
	return res, nil
}

// BenchKeygen generates persisted secp256k1 key pairs in one session for d
// or until max keys were started.
func (t *Token) BenchKeygen(ctx context.Context, d time.Duration, max int) (Result, error) {
	return t.run(ctx, "keygen", 1, d, max, func(_ int, sh pkcs11.SessionHandle, _ int) error {
		_, err := t.GenerateKey(sh)
		return err
	})
}

// run opens sessions sessions and calls op from one goroutine per session
// until d passed, max operations were started or ctx ended.
func (t *Token) run(ctx context.Context, name string, sessions int, d time.Duration, max int, op func(w int, sh pkcs11.SessionHandle, i int) error) (Result, error) {
	if d <= 0 || d > MaxDuration || max < 1 {
		return Result{}, fmt.Errorf("softhsm: duration must be in (0, %v] and max positive", MaxDuration)
	}
	shs := make([]pkcs11.SessionHandle, sessions)
	defer func() {
		for _, sh := range shs {
			if sh != 0 {
				_ = t.p.CloseSession(sh)
			}
		}
	}()
	for w := range shs {
		sh, err := t.p.OpenSession(t.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return Result{}, fmt.Errorf("softhsm: open session: %w", err)
		}
		shs[w] = sh
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu     sync.Mutex
		next   int
		res    = Result{Op: name, Sessions: sessions}
		lats   = make([][]time.Duration, sessions)
		errs   = make([]int, sessions)
		firsts = make([]error, sessions)
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= max {
					return
				}
				t0 := time.Now()
				if err := op(w, shs[w], i); err != nil {
					errs[w]++
					if firsts[w] == nil {
						firsts[w] = err
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for w := range sessions {
		res.Count += len(lats[w])
		res.Latencies = append(res.Latencies, lats[w]...)
		res.Errors += errs[w]
		if res.FirstErr == nil {
			res.FirstErr = firsts[w]
		}
	}
	return res, nil
}

// randomPIN returns a random 32-character hexadecimal PIN.
func randomPIN() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("softhsm: PIN: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
