package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// GenerateCert creates a self-signed ECDSA P-256 certificate valid for the
// given hosts (IP addresses or DNS names) for ten years, returning the
// certificate and the PKCS#8 private key, both DER. Clients pin the
// certificate itself, so no CA is involved.
func GenerateCert(rnd io.Reader, commonName string, hosts []string) (certDER, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("server: generate tls key: %w", err)
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(rnd, serial); err != nil {
		return nil, nil, fmt.Errorf("server: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	certDER, err = x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: create certificate: %w", err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("server: encode tls key: %w", err)
	}
	return certDER, keyDER, nil
}

// LoadCert builds a tls.Certificate from DER certificate and PKCS#8 key.
func LoadCert(certDER, keyDER []byte) (tls.Certificate, error) {
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server: parse tls key: %w", err)
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server: parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key, Leaf: leaf}, nil
}

// PinnedClientConfig returns a TLS client configuration that accepts exactly
// the certificate certDER (byte for byte) and nothing else.
func PinnedClientConfig(certDER []byte) *tls.Config {
	pinned := append([]byte(nil), certDER...)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the exact pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || string(raw[0]) != string(pinned) {
				return fmt.Errorf("server: replica certificate does not match the pinned one")
			}
			return nil
		},
	}
}
