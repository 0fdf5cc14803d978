package remotesigner

import (
	"context"
	"errors"
	"fmt"
	"sync"

	herumi "github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/threshold/group"
)

// fakeSigner signs with local herumi keys after computing the signing root
// with eth2 (as the replicas do) and applies a minimal slashing rule: an
// attestation whose target is not above the last signed target, or a block
// whose slot is not above the last signed slot, is refused.
type fakeSigner struct {
	mu         sync.Mutex
	keys       map[[48]byte]*herumi.SecretKey
	order      [][48]byte
	lastTarget map[[48]byte]uint64
	lastSlot   map[[48]byte]uint64
	calls      int
	fail       error // returned by every Sign when set
}

func newFakeSigner(n int) *fakeSigner {
	group.InitBLS()
	f := &fakeSigner{keys: map[[48]byte]*herumi.SecretKey{}, lastTarget: map[[48]byte]uint64{}, lastSlot: map[[48]byte]uint64{}}
	for range n {
		var sk herumi.SecretKey
		sk.SetByCSPRNG()
		var pk [48]byte
		copy(pk[:], sk.GetPublicKey().Serialize())
		f.keys[pk] = &sk
		f.order = append(f.order, pk)
	}
	return f
}

func (f *fakeSigner) PublicKeys(context.Context) ([][48]byte, error) {
	return append([][48]byte(nil), f.order...), nil
}

func (f *fakeSigner) Sign(_ context.Context, pk [48]byte, body []byte) ([96]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var sig [96]byte
	if f.fail != nil {
		return sig, f.fail
	}
	sk := f.keys[pk]
	if sk == nil {
		return sig, ErrUnknownKey
	}
	r, err := eth2.Parse(body)
	if err != nil {
		return sig, err
	}
	root, err := r.SigningRoot()
	if err != nil {
		return sig, err
	}
	if s := r.Slashable(); s != nil {
		switch s.Kind {
		case eth2.KindAttestation:
			if last, ok := f.lastTarget[pk]; ok && s.TargetEpoch <= last {
				return sig, fmt.Errorf("%w: attestation target %d not above signed target %d", ErrSlashable, s.TargetEpoch, last)
			}
			f.lastTarget[pk] = s.TargetEpoch
		case eth2.KindBlock:
			if last, ok := f.lastSlot[pk]; ok && s.Slot <= last {
				return sig, fmt.Errorf("%w: block slot %d not above signed slot %d", ErrSlashable, s.Slot, last)
			}
			f.lastSlot[pk] = s.Slot
		default:
			return sig, errors.New("unknown kind")
		}
	}
	copy(sig[:], sk.SignByte(root[:]).Serialize())
	return sig, nil
}
