package sealed

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/scrypt"
)

// ErrKDF is returned by [KeyFromPassphrase] when seal.json names a key
// derivation function this version does not know, or cost parameters
// outside the bounds below (which keep a tampered file from making a
// replica spend minutes or gigabytes deriving a key), and for such a cost
// given for a new store.
var ErrKDF = errors.New("sealed: unsupported passphrase KDF or parameters")

// Argon2idCost is the Argon2id cost of a new passphrase store (RFC 9106
// section 3.1 names them t, m and p).
type Argon2idCost struct {
	// Time is the number of passes over the memory, 1..MaxArgon2idTime.
	Time uint32
	// MemoryKiB is the memory size in KiB,
	// MinArgon2idMemoryKiB..MaxArgon2idMemoryKiB, with Time·MemoryKiB at
	// most MaxArgon2idWork.
	MemoryKiB uint32
	// Threads is the number of lanes, 1..MaxArgon2idThreads.
	Threads uint8
}

// DefaultArgon2id is the cost of new passphrase stores: RFC 9106 section 4,
// second recommended option (t=3, m=64 MiB, p=4), a fraction of a second
// on an idle replica (under a second on a loaded 2-core test machine). The key is derived once when the store is opened, so the
// cost does not touch Put or Get.
var DefaultArgon2id = Argon2idCost{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// Bounds on the parameters read from seal.json (and accepted for a new
// store), so that a tampered file cannot make a replica spend more than a
// few seconds or a gigabyte deriving a key. Argon2id's work Time·MemoryKiB
// is at most MaxArgon2idWork, about 21× the default; scrypt's N·r·p at most
// 2^22, 16× the old default (N=2^15, r=8, p=1, 32 MiB), which also bounds
// its memory 128·N·r to 512 MiB. Stores written before Argon2id with the
// old default or a test cost down to N=2^10 are within them; one created
// with a custom cost above them would be refused with ErrKDF.
const (
	MaxArgon2idTime      = 10
	MinArgon2idMemoryKiB = 1 << 10 // 1 MiB
	MaxArgon2idMemoryKiB = 1 << 20 // 1 GiB
	MaxArgon2idThreads   = 16
	MaxArgon2idWork      = 1 << 22 // Time·MemoryKiB

	maxScryptWork = 1 << 22 // N·r·p
)

// KDF ids in seal.json.
const (
	kdfArgon2id = "argon2id"
	// kdfScrypt is not written: a seal.json without a "kdf" field is a
	// store created before Argon2id, keyed with scrypt.
	kdfScrypt = "scrypt"
)

// kdfHeader is the decoded seal.json of a passphrase store. The file is one
// JSON object, decoded strictly (unknown fields and trailing data refused):
//
//	{"kdf":"argon2id","time":T,"memory_kib":M,"threads":P,"salt":base64}
//	{"n":N,"r":R,"p":P,"salt":base64}    (scrypt, stores before Argon2id)
//
// Any other "kdf" is refused with ErrKDF.
type kdfHeader struct {
	KDF    string // kdfArgon2id or kdfScrypt
	Argon2 Argon2idCost
	N, R   int // scrypt
	P      int // scrypt
	Salt   []byte
}

// argon2File and scryptFile are the two layouts of seal.json.
type argon2File struct {
	KDF       string `json:"kdf"`
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

type scryptFile struct {
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// decodeKDFHeader parses and bounds seal.json. Malformed JSON wraps
// ErrCorrupted; an unknown KDF or parameters out of bounds wrap ErrKDF.
func decodeKDFHeader(b []byte) (kdfHeader, error) {
	var id struct {
		KDF *string `json:"kdf"`
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return kdfHeader{}, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	var h kdfHeader
	switch {
	case id.KDF == nil:
		var f scryptFile
		if err := decodeStrictJSON(b, &f); err != nil {
			return kdfHeader{}, err
		}
		h = kdfHeader{KDF: kdfScrypt, N: f.N, R: f.R, P: f.P, Salt: f.Salt}
	case *id.KDF == kdfArgon2id:
		var f argon2File
		if err := decodeStrictJSON(b, &f); err != nil {
			return kdfHeader{}, err
		}
		h = kdfHeader{KDF: kdfArgon2id, Argon2: Argon2idCost{Time: f.Time, MemoryKiB: f.MemoryKiB, Threads: f.Threads}, Salt: f.Salt}
	default:
		return kdfHeader{}, fmt.Errorf("%w: unknown kdf %q (this version reads argon2id, and scrypt stores without a kdf field)", ErrKDF, *id.KDF)
	}
	if err := h.check(); err != nil {
		return kdfHeader{}, err
	}
	return h, nil
}

// decodeStrictJSON decodes one JSON object into v, refusing unknown fields
// and trailing data.
func decodeStrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrCorrupted)
	}
	return nil
}

// marshal encodes the header in its seal.json layout.
func (h kdfHeader) marshal() ([]byte, error) {
	if h.KDF == kdfScrypt {
		return json.Marshal(scryptFile{N: h.N, R: h.R, P: h.P, Salt: h.Salt})
	}
	return json.Marshal(argon2File{KDF: kdfArgon2id, Time: h.Argon2.Time, MemoryKiB: h.Argon2.MemoryKiB, Threads: h.Argon2.Threads, Salt: h.Salt})
}

// check bounds the salt and the cost of the header's KDF.
func (h kdfHeader) check() error {
	if len(h.Salt) < 16 || len(h.Salt) > 64 {
		return fmt.Errorf("%w: salt of %d bytes, want 16..64", ErrKDF, len(h.Salt))
	}
	switch h.KDF {
	case kdfArgon2id:
		return h.Argon2.check()
	case kdfScrypt:
		// Each factor is bounded first, so the product cannot overflow.
		if h.N < 1<<10 || h.N > maxScryptWork || h.N&(h.N-1) != 0 || h.R < 1 || h.R > 32 || h.P < 1 || h.P > 16 ||
			h.N*h.R*h.P > maxScryptWork {
			return fmt.Errorf("%w: scrypt N=%d r=%d p=%d outside the bounds (N a power of two ≥ 2^10, r ≤ 32, p ≤ 16, N·r·p ≤ 2^22)", ErrKDF, h.N, h.R, h.P)
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown kdf %q", ErrKDF, h.KDF)
	}
}

// check bounds an Argon2id cost.
func (c Argon2idCost) check() error {
	if c.Time < 1 || c.Time > MaxArgon2idTime || c.MemoryKiB < MinArgon2idMemoryKiB || c.MemoryKiB > MaxArgon2idMemoryKiB ||
		c.Threads < 1 || c.Threads > MaxArgon2idThreads || uint64(c.Time)*uint64(c.MemoryKiB) > MaxArgon2idWork {
		return fmt.Errorf("%w: argon2id time=%d memory=%d KiB threads=%d outside the bounds (time 1..%d, memory %d..%d KiB, threads 1..%d, time·memory ≤ %d)", ErrKDF,
			c.Time, c.MemoryKiB, c.Threads, MaxArgon2idTime, MinArgon2idMemoryKiB, MaxArgon2idMemoryKiB, MaxArgon2idThreads, MaxArgon2idWork)
	}
	return nil
}

// derive stretches passphrase into a sealing key with the header's KDF.
func (h kdfHeader) derive(passphrase []byte) (*Key, error) {
	var out []byte
	switch h.KDF {
	case kdfArgon2id:
		out = argon2.IDKey(passphrase, h.Salt, h.Argon2.Time, h.Argon2.MemoryKiB, h.Argon2.Threads, KeySize)
	case kdfScrypt:
		var err error
		if out, err = scrypt.Key(passphrase, h.Salt, h.N, h.R, h.P, KeySize); err != nil {
			return nil, fmt.Errorf("sealed: scrypt: %w", err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kdf %q", ErrKDF, h.KDF)
	}
	var k Key
	copy(k[:], out)
	clear(out)
	return &k, nil
}

// KeyFromPassphrase derives the sealing key of the store in dir from
// passphrase. The KDF, its parameters and salt are read from dir/seal.json:
// Argon2id, or scrypt for a store created before Argon2id, which stays
// readable. For a new store it uses Argon2id with cost (DefaultArgon2id
// when nil) and a fresh random salt, and writes seal.json. A seal.json
// naming an unknown KDF or parameters out of bounds gives ErrKDF, a
// malformed one ErrCorrupted. Parameters changed within bounds derive
// another key, so [Open] then refuses the store with ErrWrongKey.
func KeyFromPassphrase(dir string, passphrase []byte, cost *Argon2idCost) (*Key, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("%w: empty passphrase", ErrInvalidKey)
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, paramsFile)
	h, err := readKDFHeader(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c := DefaultArgon2id
		if cost != nil {
			c = *cost
		}
		// RFC 9106 section 3.1: a 128-bit salt suffices; 256 bits as before.
		h = kdfHeader{KDF: kdfArgon2id, Argon2: c, Salt: make([]byte, 32)}
		if _, err := io.ReadFull(rand.Reader, h.Salt); err != nil {
			return nil, fmt.Errorf("sealed: salt: %w", err)
		}
		if err := h.check(); err != nil {
			return nil, err
		}
		enc, err := h.marshal()
		if err != nil {
			return nil, fmt.Errorf("sealed: encode kdf parameters: %w", err)
		}
		if err := WriteFileAtomic(path, enc, 0o600); err != nil {
			return nil, fmt.Errorf("sealed: write kdf parameters: %w", err)
		}
	case err != nil:
		return nil, err
	}
	return h.derive(passphrase)
}

// maxHeaderLen bounds seal.json as read.
const maxHeaderLen = 4096

// readKDFHeader reads and decodes seal.json; a missing file gives an error
// wrapping fs.ErrNotExist.
func readKDFHeader(path string) (kdfHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return kdfHeader{}, err
		}
		return kdfHeader{}, fmt.Errorf("sealed: read kdf parameters: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHeaderLen+1))
	if err != nil {
		return kdfHeader{}, fmt.Errorf("sealed: read kdf parameters: %w", err)
	}
	if len(b) > maxHeaderLen {
		return kdfHeader{}, fmt.Errorf("sealed: %s: %w: longer than %d bytes", path, ErrCorrupted, maxHeaderLen)
	}
	h, err := decodeKDFHeader(b)
	if err != nil {
		return kdfHeader{}, fmt.Errorf("sealed: %s: %w", path, err)
	}
	return h, nil
}
