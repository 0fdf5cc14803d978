package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	btcschnorr "github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/bls"
	"github.com/vhsm/vhsm/threshold/group"
)

// newBenchSignLocal prepares sign-local: one party signing alone with a
// fresh key held in this process, the baseline that the threshold sign is
// compared with. Schnorr is btcec's BIP-340 signing (which, as BIP-340
// recommends, verifies the signature it made before returning it); BLS is
// the Ethereum signature H(m)·sk through herumi (threshold/bls with the
// whole secret key). Every signature is verified after the measurement,
// as for sign.
func newBenchSignLocal(scheme string, msg func(int) []byte) (*benchWork, error) {
	var sign func(m []byte) ([]byte, error)
	var pub []byte
	switch scheme {
	case wire.SchemeSchnorr:
		sk, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		pub = btcschnorr.SerializePubKey(sk.PubKey())
		sign = func(m []byte) ([]byte, error) {
			sig, err := btcschnorr.Sign(sk, m)
			if err != nil {
				return nil, err
			}
			return sig.Serialize(), nil
		}
	case wire.SchemeBLS:
		g := group.BLS12381G1()
		sk, err := g.RandomScalar(rand.Reader)
		if err != nil {
			return nil, err
		}
		pub = g.BaseMul(sk).Bytes()
		sign = func(m []byte) ([]byte, error) { return bls.PartialSign(sk, m) }
	default:
		return nil, fmt.Errorf("%s: no single-party %s signature", benchSignLocal, scheme)
	}
	sigs := &benchSigs{pub: pub, scheme: scheme}
	return &benchWork{op: benchSignLocal, scheme: scheme, local: true, do: func(_ context.Context, i int) error {
		m := msg(i)
		sig, err := sign(m)
		if err != nil {
			return err
		}
		sigs.add(m, sig)
		return nil
	}, after: sigs.check}, nil
}

// benchSigs collects the signatures of a measurement, checked once it is
// over so that the check does not take CPU from the measured requests.
type benchSigs struct {
	pub    []byte
	scheme string

	mu   sync.Mutex
	msgs [][]byte
	sigs [][]byte
}

func (s *benchSigs) add(m, sig []byte) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.sigs = append(s.sigs, sig)
	s.mu.Unlock()
}

// check verifies every collected signature under pub (as vhsm verify
// does) and fails if any does not verify.
func (s *benchSigs) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := 0
	for i, sig := range s.sigs {
		if benchVerify(s.pub, s.scheme, s.msgs[i], sig) != nil {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d signatures do not verify", bad, len(s.sigs))
	}
	return nil
}
