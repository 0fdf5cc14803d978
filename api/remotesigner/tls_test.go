package remotesigner

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

var serial int64 = 1

// mkCert issues a certificate for cn signed by parent (self-signed when nil).
func mkCert(t *testing.T, cn string, parent *testCert, isCA bool, eku []x509.ExtKeyUsage, notAfter time.Time) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku, BasicConstraintsValid: true, IsCA: isCA,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCert{cert: c, key: key, der: der}
}

func (c *testCert) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key, Leaf: c.cert}
}

func writePEM(t *testing.T, dir, name string, c *testCert) (certPath, keyPath string) {
	t.Helper()
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600)
	kb, _ := x509.MarshalPKCS8PrivateKey(c.key)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return
}

var (
	clientEKU = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	serverEKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	inAYear   = time.Now().AddDate(1, 0, 0)
)

// startTLS starts Listen with the options and returns the server and a
// function making an HTTPS client with the given client certificate (nil:
// none) that trusts the server's CA.
func startTLS(t *testing.T, o Options, signer Signer, serverCA *testCert) (*Server, func(*testCert) *http.Client) {
	t.Helper()
	s, err := Listen(o, signer)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	mk := func(c *testCert) *http.Client {
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if c != nil {
			cfg.Certificates = []tls.Certificate{c.tlsCert()}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	return s, mk
}

func publicKeysOf(t *testing.T, c *http.Client, base string) []string {
	t.Helper()
	x := do(t, c, base, "GET", PathPublicKeys, nil, nil)
	var keys []string
	if x.status != 200 || json.Unmarshal(x.body, &keys) != nil {
		t.Fatalf("publicKeys: %d %s", x.status, x.body)
	}
	return keys
}

// refused asserts that a TLS client cannot get an answer.
func refused(t *testing.T, c *http.Client, base, what string) {
	t.Helper()
	resp, err := c.Get(base + PathPublicKeys)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("%s: got status %d, want a TLS refusal", what, resp.StatusCode)
	}
}

func TestTLSClientAuthAndMapping(t *testing.T) {
	dir := t.TempDir()
	ca := mkCert(t, "vhsm test CA", nil, true, nil, inAYear)
	srvCert := mkCert(t, "127.0.0.1", ca, false, serverEKU, inAYear)
	certFile, keyFile := writePEM(t, dir, "server", srvCert)
	caFile, _ := writePEM(t, dir, "ca", ca)

	vcA := mkCert(t, "vc-a", ca, false, clientEKU, inAYear)
	vcAll := mkCert(t, "vc-all", ca, false, clientEKU, inAYear)
	vcPin := mkCert(t, "vc-pin", nil, false, clientEKU, inAYear) // self-signed, pinned
	rogue := mkCert(t, "vc-a", nil, false, clientEKU, inAYear)   // self-signed, claims vc-a
	unmapped := mkCert(t, "vc-x", ca, false, clientEKU, inAYear)
	expired := mkCert(t, "vc-a", ca, false, clientEKU, time.Now().Add(-time.Minute))
	serverOnly := mkCert(t, "vc-a", ca, false, serverEKU, inAYear)
	otherCA := mkCert(t, "other CA", nil, true, nil, inAYear)
	foreign := mkCert(t, "vc-a", otherCA, false, clientEKU, inAYear)

	f := newFakeSigner(3)
	k0, k1 := pkHex(f.order[0]), pkHex(f.order[1])
	access := map[string]any{"clients": []map[string]any{
		{"name": "a", "common_name": "vc-a", "pubkeys": []string{k0}},
		{"name": "pin", "cert_sha256": CertFingerprint(vcPin.der), "pubkeys": []string{k1}},
		{"name": "all", "common_name": "vc-all", "all_keys": true},
	}}
	ab, _ := json.Marshal(access)
	accessFile := filepath.Join(dir, "access.json")
	os.WriteFile(accessFile, ab, 0o600)

	s, client := startTLS(t, Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, AccessFile: accessFile}, f, ca)
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatal(s.URL())
	}
	base := s.URL()

	refused(t, client(nil), base, "no client certificate")
	refused(t, client(rogue), base, "self-signed certificate claiming a mapped name")
	refused(t, client(unmapped), base, "CA certificate with an unmapped name")
	refused(t, client(expired), base, "expired certificate")
	refused(t, client(serverOnly), base, "certificate without client-auth usage")
	refused(t, client(foreign), base, "certificate of another CA")

	a := client(vcA)
	if keys := publicKeysOf(t, a, base); len(keys) != 1 || keys[0] != k0 {
		t.Fatalf("vc-a sees %v", keys)
	}
	if x := do(t, a, base, "POST", PathSign+k0, nil, attestation(1, 2)); x.status != 200 {
		t.Fatalf("vc-a own key: %d %s", x.status, x.body)
	}
	before := f.calls
	if x := do(t, a, base, "POST", PathSign+k1, nil, attestation(1, 2)); x.status != 404 {
		t.Fatalf("vc-a other client's key: %d %s", x.status, x.body)
	}
	if f.calls != before {
		t.Fatal("a refused key reached the signer")
	}
	p := client(vcPin)
	if keys := publicKeysOf(t, p, base); len(keys) != 1 || keys[0] != k1 {
		t.Fatalf("pinned client sees %v", keys)
	}
	if x := do(t, p, base, "POST", PathSign+k0, nil, attestation(1, 2)); x.status != 404 {
		t.Fatalf("pinned client, other key: %d", x.status)
	}
	if x := do(t, p, base, "POST", PathSign+k1, nil, attestation(1, 2)); x.status != 200 {
		t.Fatalf("pinned client, own key: %d %s", x.status, x.body)
	}
	if keys := publicKeysOf(t, client(vcAll), base); len(keys) != 3 {
		t.Fatalf("all-keys client sees %v", keys)
	}
	// Plain HTTP to the TLS port gets nothing.
	resp, err := http.Get("http://" + s.Addr().String() + PathPublicKeys)
	if err == nil {
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
		resp.Body.Close()
	}
}

func TestTLSCAOnlyAndPinsOnly(t *testing.T) {
	dir := t.TempDir()
	ca := mkCert(t, "vhsm test CA", nil, true, nil, inAYear)
	srvCert := mkCert(t, "127.0.0.1", ca, false, serverEKU, inAYear)
	certFile, keyFile := writePEM(t, dir, "server", srvCert)
	caFile, _ := writePEM(t, dir, "ca", ca)
	f := newFakeSigner(2)

	// A client CA and no access file: every CA client, every key.
	s, client := startTLS(t, Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, f, ca)
	if keys := publicKeysOf(t, client(mkCert(t, "anyone", ca, false, clientEKU, inAYear)), s.URL()); len(keys) != 2 {
		t.Fatalf("CA client sees %v", keys)
	}
	refused(t, client(mkCert(t, "anyone", nil, false, clientEKU, inAYear)), s.URL(), "self-signed without pin")

	// Pins only (no CA).
	pinned := mkCert(t, "vc", nil, false, clientEKU, inAYear)
	ab, _ := json.Marshal(map[string]any{"clients": []map[string]any{{"name": "vc", "cert_sha256": CertFingerprint(pinned.der), "all_keys": true}}})
	accessFile := filepath.Join(dir, "pins.json")
	os.WriteFile(accessFile, ab, 0o600)
	s2, client2 := startTLS(t, Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, AccessFile: accessFile}, f, ca)
	if keys := publicKeysOf(t, client2(pinned), s2.URL()); len(keys) != 2 {
		t.Fatalf("pinned client sees %v", keys)
	}
	refused(t, client2(mkCert(t, "vc", ca, false, clientEKU, inAYear)), s2.URL(), "CA certificate without a CA configured")
}

func TestListenRefusals(t *testing.T) {
	dir := t.TempDir()
	ca := mkCert(t, "vhsm test CA", nil, true, nil, inAYear)
	certFile, keyFile := writePEM(t, dir, "server", mkCert(t, "127.0.0.1", ca, false, serverEKU, inAYear))
	f := newFakeSigner(1)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	cnOnly := write("cn.json", `{"clients":[{"name":"a","common_name":"vc-a","all_keys":true}]}`)
	cases := map[string]struct {
		o    Options
		want string
	}{
		"all interfaces, no TLS":    {Options{Addr: "0.0.0.0:0"}, "without TLS client authentication"},
		"empty host, no TLS":        {Options{Addr: ":0"}, "without TLS client authentication"},
		"ipv6 any, no TLS":          {Options{Addr: "[::]:0"}, "without TLS client authentication"},
		"hostname, no TLS":          {Options{Addr: "example.com:0"}, "without TLS client authentication"},
		"TLS without client auth":   {Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, "without client-certificate authentication"},
		"TLS cert without key":      {Options{Addr: "127.0.0.1:0", CertFile: certFile}, "both"},
		"access file without TLS":   {Options{Addr: "127.0.0.1:0", AccessFile: cnOnly}, "needs TLS"},
		"common name without CA":    {Options{Addr: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile, AccessFile: cnOnly}, "needs a client CA"},
		"missing CA file":           {Options{Addr: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: filepath.Join(dir, "none")}, "client CA file"},
		"CA file without PEM":       {Options{Addr: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile, ClientCAFile: cnOnly}, "no PEM"},
		"bad address":               {Options{Addr: "127.0.0.1"}, "listen address"},
		"access file unknown field": {Options{Addr: "0.0.0.0:0", CertFile: certFile, KeyFile: keyFile, AccessFile: write("u.json", `{"clients":[{"name":"a","cert_sha256":"`+strings.Repeat("00", 32)+`","all_keys":true,"admin":true}]}`)}, "unknown field"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Listen(c.o, f)
			if err == nil {
				s.ln.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want %q", err, c.want)
			}
		})
	}
	// Loopback without TLS is allowed.
	s, err := Listen(Options{Addr: "127.0.0.1:0"}, f)
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "127.5.5.5:1": true, "[::1]:1": true, "localhost:1": true,
		"0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false, "localhost.evil.com:1": false, "[::]:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) != %v", addr, want)
		}
	}
}

func TestParseAccessRefusals(t *testing.T) {
	pin := `"cert_sha256":"` + strings.Repeat("ab", 32) + `"`
	pk := `"0x` + strings.Repeat("aa", 48) + `"`
	for name, s := range map[string]string{
		"empty":           `{}`,
		"no clients":      `{"clients":[]}`,
		"no name":         `{"clients":[{` + pin + `,"all_keys":true}]}`,
		"no identity":     `{"clients":[{"name":"a","all_keys":true}]}`,
		"no keys":         `{"clients":[{"name":"a",` + pin + `}]}`,
		"keys and all":    `{"clients":[{"name":"a",` + pin + `,"all_keys":true,"pubkeys":[` + pk + `]}]}`,
		"bad pubkey":      `{"clients":[{"name":"a",` + pin + `,"pubkeys":["0x12"]}]}`,
		"bad pin":         `{"clients":[{"name":"a","cert_sha256":"abc","all_keys":true}]}`,
		"duplicate name":  `{"clients":[{"name":"a",` + pin + `,"all_keys":true},{"name":"a","cert_sha256":"` + strings.Repeat("cd", 32) + `","all_keys":true}]}`,
		"duplicate pin":   `{"clients":[{"name":"a",` + pin + `,"all_keys":true},{"name":"b",` + pin + `,"all_keys":true}]}`,
		"trailing":        `{"clients":[{"name":"a",` + pin + `,"all_keys":true}]} {}`,
		"control in name": `{"clients":[{"name":"a\u0000",` + pin + `,"all_keys":true}]}`,
	} {
		if _, err := ParseAccess([]byte(s), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	a, err := ParseAccess([]byte(`{"clients":[{"name":"a","cert_sha256":"sha256:`+strings.Repeat("AB:", 31)+`AB","pubkeys":[`+pk+`]}]}`), nil)
	if err != nil || !a.Pinned() {
		t.Fatalf("colon-separated fingerprint: %v", err)
	}
}
