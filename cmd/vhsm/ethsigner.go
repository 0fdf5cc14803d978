package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/vhsm/vhsm/api/remotesigner"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/wallet"
)

// ethSignerFlags are the --eth-signer-* flags of vhsm wallet.
type ethSignerFlags struct {
	listen, cert, key, clientCA, access string
}

func addEthSignerFlags(f *pflag.FlagSet, o *ethSignerFlags) {
	f.StringVar(&o.listen, "eth-signer-listen", "", "serve the Ethereum remote-signing API (Web3Signer-compatible) at this address; "+
		"plain HTTP on loopback only, elsewhere TLS with client certificates is required")
	f.StringVar(&o.cert, "eth-signer-tls-cert", "", "remote signer: server certificate (PEM)")
	f.StringVar(&o.key, "eth-signer-tls-key", "", "remote signer: server private key (PEM)")
	f.StringVar(&o.clientCA, "eth-signer-tls-client-ca", "", "remote signer: CA bundle (PEM) that issues validator-client certificates")
	f.StringVar(&o.access, "eth-signer-access", "", "remote signer: JSON file mapping client certificates (cert_sha256 pin or common_name) to validator keys")
}

func (o ethSignerFlags) options(logger *slog.Logger) remotesigner.Options {
	return remotesigner.Options{Addr: o.listen, CertFile: o.cert, KeyFile: o.key, ClientCAFile: o.clientCA,
		AccessFile: o.access, Logger: logger}
}

// walletEthSigner adapts the wallet's RemoteSigner to remotesigner.Signer.
// Until the wallet service is open (set) it answers with an error (500;
// validator clients retry).
type walletEthSigner struct {
	rs atomic.Pointer[wallet.RemoteSigner]
}

var errWalletStarting = errors.New("wallet service is starting")

func (w *walletEthSigner) PublicKeys(ctx context.Context) ([][48]byte, error) {
	rs := w.rs.Load()
	if rs == nil {
		return nil, errWalletStarting
	}
	return rs.PublicKeys(ctx)
}

func (w *walletEthSigner) Sign(ctx context.Context, pk [48]byte, body []byte) ([96]byte, error) {
	rs := w.rs.Load()
	if rs == nil {
		return [96]byte{}, errWalletStarting
	}
	sig, err := rs.Sign(ctx, pk, body)
	switch {
	case err == nil:
		return sig, nil
	case errors.Is(err, wallet.ErrNotFound):
		return sig, &sentinelError{remotesigner.ErrUnknownKey, err}
	case errors.Is(err, wallet.ErrSlashable):
		return sig, &sentinelError{remotesigner.ErrSlashable, err}
	}
	return sig, err
}

// sentinelError makes err also match sentinel without changing its text
// (a slashing refusal answers 412 with the replicas' message).
type sentinelError struct{ sentinel, err error }

func (e *sentinelError) Error() string   { return e.err.Error() }
func (e *sentinelError) Unwrap() []error { return []error{e.sentinel, e.err} }

// ethSignerServer is the running remote signer of a wallet service.
type ethSignerServer struct {
	srv    *remotesigner.Server
	signer *walletEthSigner
	hsm    wallet.Eth2HSM
	done   chan struct{}
}

// startEthSigner binds and serves the remote signer; a serve failure is
// sent to serveErr.
func startEthSigner(hsm *client.Client, o remotesigner.Options, serveErr chan<- error) (*ethSignerServer, error) {
	s := &ethSignerServer{signer: &walletEthSigner{}, hsm: hsm, done: make(chan struct{})}
	var err error
	if s.srv, err = remotesigner.Listen(o, s.signer); err != nil {
		return nil, fmt.Errorf("--eth-signer-listen: %w", err)
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(); err != nil {
			select {
			case serveErr <- fmt.Errorf("eth signer: %w", err):
			default:
			}
		}
	}()
	return s, nil
}

// open connects the signer to the opened wallet service.
func (s *ethSignerServer) open(svc *wallet.Service) error {
	rs, err := svc.NewRemoteSigner(s.hsm)
	if err != nil {
		return err
	}
	s.signer.rs.Store(rs)
	return nil
}

func (s *ethSignerServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), walletShutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// ethSignerURL is the remote signer's base URL ("" when not configured).
func (w *walletService) ethSignerURL() string {
	if w.ethSigner == nil {
		return ""
	}
	return w.ethSigner.srv.URL()
}
