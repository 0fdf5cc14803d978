package remotesigner

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Client is one authorised validator client: its name and the validator
// keys it may list and use.
type Client struct {
	Name string
	all  bool
	keys map[[48]byte]bool
}

// allows reports whether the client may use key. A nil *Client stands for
// unrestricted (loopback, no TLS) access.
func (c *Client) allows(key [48]byte) bool {
	return c == nil || c.all || c.keys[key]
}

// Access maps TLS client certificates to clients. A certificate is
// recognised by its pinned SHA-256 fingerprint (of the DER certificate), or,
// when a client CA is configured, by a chain to that CA and then by its
// subject common name (or, without an access file, as a client allowed every
// key).
type Access struct {
	roots       *x509.CertPool // nil: no CA, pins only
	byPin       map[[32]byte]*Client
	byCN        map[string]*Client
	anyVerified *Client          // CA configured and no access file: every CA client
	now         func() time.Time // tests
	pinnedCount int
}

// Pinned reports whether any client is recognised by a certificate pin.
func (a *Access) Pinned() bool { return a.pinnedCount > 0 }

// Identify returns the client that presented the chain (leaf first), or
// nil if the certificate is neither pinned nor, with a CA, chained to it and
// mapped.
func (a *Access) Identify(chain []*x509.Certificate) *Client {
	if a == nil || len(chain) == 0 {
		return nil
	}
	leaf := chain[0]
	if c := a.byPin[sha256.Sum256(leaf.Raw)]; c != nil {
		return c
	}
	if a.roots == nil {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.roots, Intermediates: inter, CurrentTime: now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil
	}
	if a.anyVerified != nil {
		return a.anyVerified
	}
	if cn := leaf.Subject.CommonName; cn != "" {
		return a.byCN[cn]
	}
	return nil
}

// accessFile is the JSON access file:
//
//	{"clients": [
//	  {"name": "lighthouse-1", "cert_sha256": "<64 hex>", "pubkeys": ["0x…", …]},
//	  {"name": "teku", "common_name": "teku.vc.example", "all_keys": true}]}
type accessFile struct {
	Clients []accessEntry `json:"clients"`
}

type accessEntry struct {
	Name       string   `json:"name"`
	CertSHA256 string   `json:"cert_sha256"`
	CommonName string   `json:"common_name"`
	Pubkeys    []string `json:"pubkeys"`
	AllKeys    bool     `json:"all_keys"`
}

// maxAccessFile bounds the access file (a few thousand clients with many keys).
const maxAccessFile = 8 << 20

// ParseAccess reads an access file. roots is the client CA pool (nil when
// none is configured); entries matched by common_name need it.
func ParseAccess(data []byte, roots *x509.CertPool) (*Access, error) {
	if len(data) > maxAccessFile {
		return nil, fmt.Errorf("remotesigner: access file larger than %d bytes", maxAccessFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f accessFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("remotesigner: access file: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("remotesigner: access file: trailing data after the JSON object")
	}
	if len(f.Clients) == 0 {
		return nil, errors.New("remotesigner: access file: no clients")
	}
	a := &Access{roots: roots, byPin: map[[32]byte]*Client{}, byCN: map[string]*Client{}}
	names := map[string]bool{}
	for i, e := range f.Clients {
		where := fmt.Sprintf("remotesigner: access file: clients[%d]", i)
		if e.Name == "" || len(e.Name) > 128 || strings.ContainsFunc(e.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("%s: name must be 1-128 printable characters", where)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("%s: duplicate name %q", where, e.Name)
		}
		names[e.Name] = true
		c := &Client{Name: e.Name, all: e.AllKeys, keys: map[[48]byte]bool{}}
		switch {
		case e.AllKeys && len(e.Pubkeys) > 0:
			return nil, fmt.Errorf("%s: give pubkeys or all_keys, not both", where)
		case !e.AllKeys && len(e.Pubkeys) == 0:
			return nil, fmt.Errorf("%s: no pubkeys (give pubkeys or all_keys: true)", where)
		}
		for j, s := range e.Pubkeys {
			pk, err := parsePubkey(s)
			if err != nil {
				return nil, fmt.Errorf("%s.pubkeys[%d]: must be a 0x-prefixed 48-byte hex BLS public key", where, j)
			}
			c.keys[pk] = true
		}
		if e.CertSHA256 == "" && e.CommonName == "" {
			return nil, fmt.Errorf("%s: give cert_sha256 or common_name", where)
		}
		if e.CertSHA256 != "" {
			h := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.CertSHA256, "sha256:"), ":", ""))
			var pin [32]byte
			if len(h) != 64 {
				return nil, fmt.Errorf("%s: cert_sha256 must be 32 bytes of hex", where)
			}
			if _, err := hex.Decode(pin[:], []byte(h)); err != nil {
				return nil, fmt.Errorf("%s: cert_sha256 must be 32 bytes of hex", where)
			}
			if a.byPin[pin] != nil {
				return nil, fmt.Errorf("%s: certificate pinned twice", where)
			}
			a.byPin[pin] = c
			a.pinnedCount++
		}
		if e.CommonName != "" {
			if roots == nil {
				return nil, fmt.Errorf("%s: common_name needs a client CA (without one a common name is self-asserted)", where)
			}
			if a.byCN[e.CommonName] != nil {
				return nil, fmt.Errorf("%s: duplicate common_name %q", where, e.CommonName)
			}
			a.byCN[e.CommonName] = c
		}
	}
	return a, nil
}

// CAOnlyAccess lets every client certificate that chains to roots use every
// key (a client CA without an access file).
func CAOnlyAccess(roots *x509.CertPool) *Access {
	return &Access{roots: roots, anyVerified: &Client{Name: "ca-verified client", all: true}}
}

// CertFingerprint is the hex SHA-256 of a DER certificate, as cert_sha256
// takes it.
func CertFingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}
