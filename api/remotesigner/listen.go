package remotesigner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Options configure a remote-signer listener.
type Options struct {
	// Addr is host:port. Without TLS it must be a loopback address.
	Addr string
	// CertFile and KeyFile are the server's PEM certificate (chain) and key.
	// Setting them turns TLS on; TLS always requires client certificates.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of CAs that issue validator-client
	// certificates (tls.RequireAndVerifyClientCert semantics).
	ClientCAFile string
	// AccessFile maps client certificates (pinned SHA-256 or, with a CA,
	// common name) to the validator keys each may use. Without it, every
	// CA-verified client may use every key.
	AccessFile string
	Logger     *slog.Logger
}

// Server is a running listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
	url string
}

// IsLoopback reports whether host:port names a loopback address
// (127.0.0.0/8, ::1 or "localhost"). An empty host (all interfaces) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSConfig builds the server TLS configuration and the access map from the
// options' files. It refuses TLS without client authentication.
func TLSConfig(o Options) (*tls.Config, *Access, error) {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, nil, errors.New("remotesigner: give both the TLS certificate and key files")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("remotesigner: TLS certificate: %v", err)
	}
	var roots *x509.CertPool
	if o.ClientCAFile != "" {
		pem, err := os.ReadFile(o.ClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("remotesigner: client CA file: %v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("remotesigner: client CA file %s holds no PEM certificate", o.ClientCAFile)
		}
	}
	var access *Access
	switch {
	case o.AccessFile != "":
		data, err := os.ReadFile(o.AccessFile)
		if err != nil {
			return nil, nil, fmt.Errorf("remotesigner: access file: %v", err)
		}
		if access, err = ParseAccess(data, roots); err != nil {
			return nil, nil, err
		}
	case roots != nil:
		access = CAOnlyAccess(roots)
	default:
		return nil, nil, errors.New("remotesigner: TLS without client-certificate authentication is refused: " +
			"give a client CA file or an access file with cert_sha256 pins")
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Verification is Access.Identify's: a pinned certificate or a
		// chain to the client CA, and a mapping entry for it.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if access.Identify(cs.PeerCertificates) == nil {
				return errors.New("remotesigner: client certificate not authorised")
			}
			return nil
		},
	}
	return cfg, access, nil
}

// Listen validates the options, binds the address and returns a server
// ready to Serve. It refuses a non-loopback address without TLS client
// authentication.
func Listen(o Options, signer Signer) (*Server, error) {
	if signer == nil {
		return nil, errors.New("remotesigner: no signer")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, fmt.Errorf("remotesigner: listen address %q: %v", o.Addr, err)
	}
	useTLS := o.CertFile != "" || o.KeyFile != ""
	if !useTLS {
		if o.ClientCAFile != "" || o.AccessFile != "" {
			return nil, errors.New("remotesigner: a client CA or access file needs TLS (give the certificate and key)")
		}
		if !IsLoopback(o.Addr) {
			return nil, fmt.Errorf("remotesigner: refusing to listen on %s without TLS client authentication: "+
				"plain HTTP is allowed on a loopback address only; give a TLS certificate, key and client CA or access file", o.Addr)
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{Signer: signer, Logger: logger}
	var tlsCfg *tls.Config
	if useTLS {
		var err error
		if tlsCfg, h.Access, err = TLSConfig(o); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("remotesigner: listen: %v", err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			// TLS handshake refusals (unauthorised client certificates) land here.
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		url: scheme + "://" + ln.Addr().String(),
	}
	return s, nil
}

// URL is the server's base URL (scheme://host:port).
func (s *Server) URL() string { return s.url }

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
