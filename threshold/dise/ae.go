package dise

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Version is the version byte that starts the encoding of an evaluation (DPRF
// inputs carry their own, [InputVersion]).
const Version byte = 1

// Limits of the encodings.
const (
	// MaxKeyIDLen bounds the key identifier (its length is one byte).
	MaxKeyIDLen = 255
	// MaxMessageLen bounds the plaintext of one ciphertext (16 MiB).
	MaxMessageLen = 16 << 20
	// RhoLen is the length of the commitment randomness ρ.
	RhoLen = 32
	// AlphaLen is the length of the commitment α.
	AlphaLen = 32
)

// commitDST prefixes the commitment hash α = H(m ‖ ρ).
var commitDST = []byte("VHSM-DISE-V1-COMMIT")

// Errors of the authenticated-encryption layer.
var (
	// ErrInvalidCiphertext is returned for a ciphertext that does not parse.
	ErrInvalidCiphertext = errors.New("dise: invalid ciphertext encoding")
	// ErrAuthentication is returned when a ciphertext does not open its
	// commitment under the DPRF output: it was tampered with, or w was
	// computed for another input or key.
	ErrAuthentication = errors.New("dise: ciphertext authentication failed")
	// ErrMessageTooLong is returned for a plaintext over MaxMessageLen.
	ErrMessageTooLong = errors.New("dise: message too long")
	// ErrInvalidOutput is returned for a DPRF output that is not
	// OutputLen bytes.
	ErrInvalidOutput = errors.New("dise: invalid DPRF output")
)

// Input is the DPRF input of one ciphertext, x = j ‖ α in DiSE, extended
// with the version and the key identifier so that an evaluation is bound to
// exactly one key and one encryptor. Its canonical encoding is
//
//	2 (1) ‖ len(KeyID) (1) ‖ KeyID ‖ Encryptor (32) ‖ Alpha (32)
//
// and is also the header of the ciphertext. Inputs of version 1 named the
// encryptor by 4 bytes only (second preimages of such an identity are
// cheap); they still decode, so that old ciphertexts stay readable, and
// [PrepareEncrypt] never makes them:
//
//	1 (1) ‖ len(KeyID) (1) ‖ KeyID ‖ Encryptor[:4] ‖ Alpha (32)
type Input struct {
	// Version is InputVersion, or InputVersionLegacy for an old input; the
	// zero value means InputVersion.
	Version   byte
	KeyID     string
	Encryptor [EncryptorLen]byte // a legacy input sets the first 4 bytes only
	Alpha     [AlphaLen]byte
}

// Input versions.
const (
	// InputVersionLegacy names the encryptor by 4 bytes (decryption only).
	InputVersionLegacy byte = 1
	// InputVersion names the encryptor by all EncryptorLen bytes.
	InputVersion byte = 2
	// EncryptorLen is the length of an encryptor identity.
	EncryptorLen = 32
	// legacyEncryptorLen is the encryptor's length in a legacy input.
	legacyEncryptorLen = 4
)

// encryptorLen returns the encoded length of the encryptor in in.
func (in Input) encryptorLen() int {
	if in.Version == InputVersionLegacy {
		return legacyEncryptorLen
	}
	return EncryptorLen
}

// Names reports whether the input names the encryptor identity j: all of
// it, or for a legacy input its first 4 bytes.
func (in Input) Names(j [EncryptorLen]byte) bool {
	n := in.encryptorLen()
	return subtle.ConstantTimeCompare(in.Encryptor[:n], j[:n]) == 1
}

// Bytes returns the canonical encoding of in. The key id must be 1..255
// bytes (as checked by [PrepareEncrypt] and [DecodeInput]).
func (in Input) Bytes() []byte {
	v := in.Version
	if v == 0 {
		v = InputVersion
	}
	b := make([]byte, 0, 2+len(in.KeyID)+in.encryptorLen()+AlphaLen)
	b = append(b, v, byte(len(in.KeyID)))
	b = append(b, in.KeyID...)
	b = append(b, in.Encryptor[:in.encryptorLen()]...)
	return append(b, in.Alpha[:]...)
}

// parseInput parses an Input from the front of b and returns the rest.
func parseInput(b []byte) (Input, []byte, error) {
	if len(b) < 2 || (b[0] != InputVersion && b[0] != InputVersionLegacy) || b[1] == 0 {
		return Input{}, nil, ErrInvalidInput
	}
	in := Input{Version: b[0]}
	n, m := int(b[1]), in.encryptorLen()
	if len(b) < 2+n+m+AlphaLen {
		return Input{}, nil, ErrInvalidInput
	}
	in.KeyID = string(b[2 : 2+n])
	copy(in.Encryptor[:m], b[2+n:])
	copy(in.Alpha[:], b[2+n+m:])
	return in, b[2+n+m+AlphaLen:], nil
}

// DecodeInput parses a canonical DPRF input encoding.
func DecodeInput(x []byte) (Input, error) {
	in, rest, err := parseInput(x)
	if err != nil || len(rest) != 0 {
		return Input{}, ErrInvalidInput
	}
	return in, nil
}

// PendingEncryption is the state of an encryption between
// [PrepareEncrypt] and [FinishEncrypt]. It holds the plaintext and ρ: keep
// it in memory only, and discard it after use.
type PendingEncryption struct {
	in  Input
	rho [RhoLen]byte
	msg []byte
}

// Input returns the encoded DPRF input to send to the replicas.
func (p *PendingEncryption) Input() []byte { return p.in.Bytes() }

// Wipe overwrites the plaintext and ρ held by p; p is unusable afterwards.
func (p *PendingEncryption) Wipe() {
	clear(p.rho[:])
	clear(p.msg)
	p.msg = nil
	p.in = Input{}
}

// PrepareEncrypt starts the encryption of msg under the threshold key
// keyID by encryptor j (DiSE encryption, steps 1–2): it draws ρ from rand,
// commits α = SHA-256(commitDST ‖ len(m) ‖ m ‖ ρ) and returns the pending
// state, whose Input is the DPRF input x = (version, keyID, j, α).
func PrepareEncrypt(keyID string, j [EncryptorLen]byte, msg []byte, rand io.Reader) (*PendingEncryption, error) {
	if len(keyID) == 0 || len(keyID) > MaxKeyIDLen {
		return nil, ErrInvalidInput
	}
	if len(msg) > MaxMessageLen {
		return nil, ErrMessageTooLong
	}
	p := &PendingEncryption{msg: slices.Clone(msg)}
	if _, err := io.ReadFull(rand, p.rho[:]); err != nil {
		return nil, fmt.Errorf("prepare encryption: %w", err)
	}
	p.in = Input{Version: InputVersion, KeyID: keyID, Encryptor: j, Alpha: commit(msg, p.rho[:])}
	return p, nil
}

// FinishEncrypt completes the encryption with w, the DPRF output on the
// pending input (from [CombineEvaluations]): the ciphertext is
// x ‖ (PRG(w) ⊕ (ρ ‖ m)), with x the encoded input.
func FinishEncrypt(p *PendingEncryption, w []byte) ([]byte, error) {
	if p == nil || p.in.KeyID == "" {
		return nil, ErrInvalidInput
	}
	if len(w) != OutputLen {
		return nil, ErrInvalidOutput
	}
	x := p.in.Bytes()
	ct := make([]byte, len(x)+RhoLen+len(p.msg))
	copy(ct, x)
	body := ct[len(x):]
	copy(body, p.rho[:])
	copy(body[RhoLen:], p.msg)
	if err := xorKeystream(w, body); err != nil {
		return nil, err
	}
	return ct, nil
}

// ParseCiphertext returns the DPRF input of a ciphertext, to be evaluated by
// the replicas before [FinishDecrypt].
func ParseCiphertext(ct []byte) ([]byte, error) {
	x, _, err := splitCiphertext(ct)
	return x, err
}

// FinishDecrypt decrypts ct with w, the DPRF output on its input, and
// accepts the plaintext only if it reopens the commitment: α =
// H(m ‖ ρ), compared in constant time (DiSE decryption). It returns
// [ErrAuthentication] for a tampered ciphertext or a wrong w.
func FinishDecrypt(ct, w []byte) ([]byte, error) {
	x, body, err := splitCiphertext(ct)
	if err != nil {
		return nil, err
	}
	if len(w) != OutputLen {
		return nil, ErrInvalidOutput
	}
	in, err := DecodeInput(x)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	pt := slices.Clone(body)
	if err := xorKeystream(w, pt); err != nil {
		return nil, err
	}
	rho, msg := pt[:RhoLen], pt[RhoLen:]
	alpha := commit(msg, rho)
	if subtle.ConstantTimeCompare(alpha[:], in.Alpha[:]) != 1 {
		clear(pt)
		return nil, ErrAuthentication
	}
	return msg, nil
}

// splitCiphertext splits ct into its input header and body.
func splitCiphertext(ct []byte) (x, body []byte, err error) {
	_, rest, err := parseInput(ct)
	if err != nil {
		return nil, nil, ErrInvalidCiphertext
	}
	if len(rest) < RhoLen || len(rest)-RhoLen > MaxMessageLen {
		return nil, nil, ErrInvalidCiphertext
	}
	n := len(ct) - len(rest)
	return ct[:n:n], rest, nil
}

// commit is α = SHA-256(commitDST ‖ len(m) (uint64 BE) ‖ m ‖ ρ), the
// random-oracle commitment of DiSE.
func commit(msg, rho []byte) [AlphaLen]byte {
	h := sha256.New()
	h.Write(commitDST)
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(msg)))
	h.Write(l[:])
	h.Write(msg)
	h.Write(rho)
	var a [AlphaLen]byte
	h.Sum(a[:0])
	return a
}

// xorKeystream XORs buf with PRG(w), AES-256 in counter mode keyed by w from
// a zero counter. Each w is the DPRF output on an input that commits to
// (m, ρ), so a key stream is used for one plaintext only.
func xorKeystream(w, buf []byte) error {
	block, err := aes.NewCipher(w)
	if err != nil {
		return ErrInvalidOutput
	}
	var iv [aes.BlockSize]byte
	cipher.NewCTR(block, iv[:]).XORKeyStream(buf, buf)
	return nil
}
