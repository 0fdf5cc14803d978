package group

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// constReader is a failed random source: it returns the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestHedgedNonce(t *testing.T) {
	for _, g := range groups() {
		t.Run(g.Name(), func(t *testing.T) {
			x := g.HashToScalar([]byte("vhsm-test"), []byte("secret"))
			nonce := func(tag string, secret Scalar, r io.Reader, stmt ...[]byte) Scalar {
				t.Helper()
				k, err := HedgedNonce(g, []byte(tag), secret, r, stmt...)
				if err != nil {
					t.Fatal(err)
				}
				if k.IsZero() {
					t.Fatal("zero nonce")
				}
				return k
			}
			base := nonce("tag", x, constReader(0), []byte("stmt"))
			// Deterministic in its inputs: the same aux bytes give the same nonce.
			if !nonce("tag", x, constReader(0), []byte("stmt")).Equal(base) {
				t.Fatal("same inputs, different nonces")
			}
			// Every input changes it, even with a stuck random source; the
			// statement's parts are length-prefixed, so moving a boundary
			// changes it too.
			for name, k := range map[string]Scalar{
				"aux":       nonce("tag", x, constReader(1), []byte("stmt")),
				"tag":       nonce("tag2", x, constReader(0), []byte("stmt")),
				"secret":    nonce("tag", x.Add(g.ScalarFromUint64(1)), constReader(0), []byte("stmt")),
				"statement": nonce("tag", x, constReader(0), []byte("stmt2")),
				"split":     nonce("tag", x, constReader(0), []byte("st"), []byte("mt")),
				"empty":     nonce("tag", x, constReader(0)),
				"tag/stmt":  nonce("tagstmt", x, constReader(0)),
			} {
				if k.Equal(base) {
					t.Errorf("changing %s does not change the nonce", name)
				}
			}
			// It reads exactly NonceAuxLen bytes.
			r := bytes.NewReader(make([]byte, NonceAuxLen+1))
			nonce("tag", x, r)
			if r.Len() != 1 {
				t.Fatalf("read %d bytes", NonceAuxLen+1-r.Len())
			}
			// A source that fails is an error, not a weaker nonce.
			if _, err := HedgedNonce(g, nil, x, iotest.ErrReader(io.ErrUnexpectedEOF)); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("failing reader: %v", err)
			}
			if _, err := HedgedNonce(g, nil, x, bytes.NewReader(make([]byte, NonceAuxLen-1))); err == nil {
				t.Fatal("short reader accepted")
			}
			if _, err := HedgedNonce(g, make([]byte, 1<<16), x, constReader(0)); !errors.Is(err, ErrNonceInput) {
				t.Fatalf("long tag: %v", err)
			}
		})
	}
}

// A known answer computed outside Go, from the construction as documented
// on HedgedNonce (Python: hashlib SHA-256 expand_message_xmd, then int mod
// q), with aux = 0x42 repeated, secret 7, tag "vhsm-test" and the one-part
// statement "statement".
func TestHedgedNonceVector(t *testing.T) {
	for _, tc := range []struct {
		g    Group
		want string
	}{
		{Secp256k1(), "5199d7ca2add48dd804c03e4293431ffb58a562605e850da47706bb0ed604874"},
		{BLS12381G1(), "3fc24c8f6ea83801f8e0167c43ae6f9b00d618145eb7f990fb630c9f79aefbdd"},
	} {
		x := tc.g.ScalarFromUint64(7)
		k, err := HedgedNonce(tc.g, []byte("vhsm-test"), x, constReader(0x42), []byte("statement"))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.Bytes()); got != tc.want {
			t.Errorf("%s: nonce %s", tc.g.Name(), got)
		}
	}
}
