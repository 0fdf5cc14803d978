package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/wire"
)

// secretFinder looks for any of a set of 32-byte secrets in raw bytes, in
// hex (either case) and in base64 (standard or URL alphabet, at any byte
// alignment), anywhere inside a file.
type secretFinder struct {
	// patterns maps the first 12 bytes of every encoded form to the whole
	// form and the index of the secret it encodes.
	patterns map[string][]pattern
}

type pattern struct {
	form   []byte
	secret int
	how    string
}

const prefixLen = 12

func newSecretFinder(secrets [][]byte) *secretFinder {
	f := &secretFinder{patterns: map[string][]pattern{}}
	add := func(form []byte, i int, how string) {
		k := string(form[:prefixLen])
		f.patterns[k] = append(f.patterns[k], pattern{form, i, how})
	}
	for i, s := range secrets {
		add(s, i, "raw")
		h := hex.EncodeToString(s)
		add([]byte(h), i, "hex")
		add([]byte(strings.ToUpper(h)), i, "HEX")
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			// With k bytes before the secret in the encoded stream, only the
			// 4-character groups made of secret bytes alone are fixed.
			for k := range 3 {
				e := enc.EncodeToString(append(make([]byte, k), s...))
				start := 0
				if k > 0 {
					start = 4
				}
				add([]byte(e[start:(k+len(s))/3*4]), i, "base64")
			}
		}
	}
	return f
}

// find returns a description of the first secret found in data, or "".
func (f *secretFinder) find(data []byte) (int, string, bool) {
	for off := 0; off+prefixLen <= len(data); off++ {
		for _, p := range f.patterns[string(data[off:off+prefixLen])] {
			if bytes.HasPrefix(data[off:], p.form) {
				return p.secret, p.how, true
			}
		}
	}
	return 0, "", false
}

// unsealedSecrets opens replica home's sealed store with its testnet
// sealing key and returns every 32-byte secret in it: key shares, nonce
// shares and the replica's long-term 32-byte keys.
func unsealedSecrets(t *testing.T, home string) [][]byte {
	t.Helper()
	key, err := sealed.KeyFromFile(filepath.Join(home, layout.SealKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, layout.SecretsDir)
	st, err := sealed.Open(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		h, ok := strings.CutPrefix(e.Name(), "r-")
		if h, ok = strings.CutSuffix(h, ".sealed"); !ok {
			continue
		}
		name, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("record file %s", e.Name())
		}
		v, err := st.Get(string(name))
		if err != nil {
			t.Fatalf("open record %q: %v", name, err)
		}
		switch {
		case len(v) == 32:
			out = append(out, v)
		case strings.HasPrefix(string(name), "dkg/") && strings.Count(string(name), "/") == 1 && len(v) > 4:
			// A key session's record: version, slot count (2), scalar
			// length, then every slot's share (replica/engine shares.go).
			slots, sl := int(v[1])<<8|int(v[2]), int(v[3])
			if sl != 32 || len(v) != 4+slots*sl {
				t.Fatalf("session record %q: %d bytes for %d slots", name, len(v), slots)
			}
			for k := 0; k < slots; k++ {
				out = append(out, v[4+k*sl:4+(k+1)*sl])
			}
		}
	}
	return out
}

// TestNoSecretOutsideSealedStore runs a cluster through key generation of
// every scheme, signing, encryption and a restart, stops it, unseals every
// replica's store, and searches every other file the replicas wrote (the
// replicated application state, CometBFT's block and state stores, the WAL,
// configuration and logs) for any share, nonce share or long-term secret,
// raw or encoded. The replicated state must hold no secret, and neither may
// a log.
func TestNoSecretOutsideSealedStore(t *testing.T) {
	c := startFour(t, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl := c.Client()
	sk, err := cl.GenerateKey(ctx, "cluster-schnorr", wire.SchemeSchnorr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GenerateKey(ctx, "b", wire.SchemeBLS); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GenerateKey(ctx, "cluster-sym", wire.SchemeSymmetric); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 6 { // FROST sessions: nonces handed out and used (never stored)
		signSchnorr(ctx, t, cl, sk.PublicKey, "secrets "+string(rune('a'+i)))
	}
	if _, err := cl.SignBLS(ctx, "b", []byte("m")); err != nil {
		t.Fatal(err)
	}
	encryptDecrypt(ctx, t, cl, nil, "before restarts")
	c.Restart(1)
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client().SignBLS(ctx, "b", []byte("after restart")); err != nil {
		t.Fatal(err)
	}
	c.Stop()

	for i := 1; i <= 4; i++ {
		home := c.Home(i)
		secrets := unsealedSecrets(t, home)
		// Shares of three key sessions and the long-term keys at the least.
		if len(secrets) < 6 {
			t.Fatalf("replica %d: only %d secrets unsealed: the search would prove nothing", i, len(secrets))
		}
		f := newSecretFinder(secrets)
		// The search works: a secret planted in a copy of some data is found in every encoding.
		for _, enc := range []string{string(secrets[0]), hex.EncodeToString(secrets[0]), base64.StdEncoding.EncodeToString(append([]byte{7}, secrets[0]...))} {
			if _, _, ok := f.find([]byte("prefix " + enc + " suffix")); !ok {
				t.Fatalf("the finder misses a planted secret (%d bytes)", len(enc))
			}
		}
		files, scanned := 0, 0
		err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(home, path)
			if d.IsDir() {
				if rel == layout.SecretsDir {
					return filepath.SkipDir
				}
				return nil
			}
			if rel == layout.SealKeyFile || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			scanned += len(data)
			if s, how, ok := f.find(data); ok {
				t.Errorf("replica %d: secret #%d found (%s) in %s", i, s, how, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("replica %d: %d secrets, none in %d files (%d KiB)", i, len(secrets), files, scanned>>10)
		if files < 5 {
			t.Fatalf("replica %d: only %d files scanned", i, files)
		}
	}
}
