package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/eth2"
)

// Eth2HSM is the HSM operation the Ethereum remote signer needs: sign one
// typed remote-signing request (the API's JSON body) with a validator key.
// The replicas compute the signing root from the request and enforce
// slashing protection in their ordered log; the result is the 96-byte BLS
// signature. *client.Client implements it (replica/client SignEth2).
type Eth2HSM interface {
	SignEth2(ctx context.Context, keyID string, request []byte) ([]byte, error)
}

// ErrSlashable reports a request refused by the replicas' slashing
// protection.
var ErrSlashable = errors.New("wallet: refused by slashing protection")

// RemoteSigner signs remote-signing API requests with the wallet's
// validator keys (api/remotesigner's Signer; cmd/vhsm maps its errors:
// ErrNotFound → unknown key, ErrSlashable → slashing refusal).
type RemoteSigner struct {
	svc *Service
	hsm Eth2HSM

	mu        sync.Mutex
	keys      map[[48]byte]validatorKey
	refreshed time.Time
}

// validatorKey is a validator's HSM key id and Ethereum network name.
type validatorKey struct{ keyID, network string }

// remoteSignerRefresh bounds how often an unknown public key triggers a
// re-read of the validator table (new validators appear without restart).
const remoteSignerRefresh = time.Second

// NewRemoteSigner returns the remote signer of the service's validators.
func (s *Service) NewRemoteSigner(hsm Eth2HSM) (*RemoteSigner, error) {
	if hsm == nil {
		return nil, errors.New("wallet: remote signer: the HSM client cannot sign typed Ethereum requests (no SignEth2)")
	}
	return &RemoteSigner{svc: s, hsm: hsm, keys: map[[48]byte]validatorKey{}}, nil
}

// validatorKeys reads every validator's public key and HSM key id (no
// label decryption: this runs on the signing path).
func (s *Service) validatorKeys(ctx context.Context) (map[[48]byte]validatorKey, error) {
	rows, err := s.st.q().query(ctx, `SELECT key_id, public_key, network FROM wallets WHERE kind = ? ORDER BY created_at, id`, KindValidator)
	if err != nil {
		return nil, s.dbErr("list validator keys", err)
	}
	defer rows.Close()
	out := map[[48]byte]validatorKey{}
	for rows.Next() {
		var keyID, pub, network string
		if err := rows.Scan(&keyID, &pub, &network); err != nil {
			return nil, s.dbErr("list validator keys", err)
		}
		var pk [48]byte
		if b, err := hex.DecodeString(pub); err != nil || len(b) != len(pk) {
			s.log.Warn("validator_key_corrupt", "key_id", keyID)
			continue
		} else {
			copy(pk[:], b)
		}
		out[pk] = validatorKey{keyID: keyID, network: network}
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("list validator keys", err)
	}
	return out, nil
}

// PublicKeys lists every validator public key of the wallet.
func (r *RemoteSigner) PublicKeys(ctx context.Context) ([][48]byte, error) {
	keys, err := r.svc.validatorKeys(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.keys, r.refreshed = keys, r.svc.now()
	r.mu.Unlock()
	out := make([][48]byte, 0, len(keys))
	for pk := range keys {
		out = append(out, pk)
	}
	return out, nil
}

// keyID finds the HSM key of a validator public key. A key's id never
// changes, so known keys are served from memory; an unknown one re-reads
// the table at most once per remoteSignerRefresh.
func (r *RemoteSigner) key(ctx context.Context, pk [48]byte) (validatorKey, error) {
	r.mu.Lock()
	id, ok := r.keys[pk]
	stale := r.svc.now().Sub(r.refreshed) >= remoteSignerRefresh
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	if stale {
		keys, err := r.svc.validatorKeys(ctx)
		if err != nil {
			return validatorKey{}, err
		}
		r.mu.Lock()
		r.keys, r.refreshed = keys, r.svc.now()
		id, ok = keys[pk]
		r.mu.Unlock()
		if ok {
			return id, nil
		}
	}
	return validatorKey{}, fmt.Errorf("%w: no validator with public key 0x%x", ErrNotFound, pk[:])
}

// Sign signs one remote-signing request body with the validator key pk.
// Errors: ErrNotFound (no such validator), ErrSlashable (slashing
// protection refused it), ErrUnavailable / ErrRejected (the HSM).
func (r *RemoteSigner) Sign(ctx context.Context, pk [48]byte, body []byte) ([96]byte, error) {
	var sig [96]byte
	k, err := r.key(ctx, pk)
	if err != nil {
		return sig, err
	}
	if body, err = r.svc.withRegistrationForkVersion(body, k.network); err != nil {
		return sig, err
	}
	out, err := r.hsm.SignEth2(ctx, k.keyID, body)
	if err != nil {
		if errors.Is(err, client.ErrSlashable) {
			return sig, &slashableError{err}
		}
		return sig, hsmErr("sign eth2 request", err)
	}
	if len(out) != len(sig) {
		return sig, fmt.Errorf("%w: HSM returned a %d-byte signature", ErrUnavailable, len(out))
	}
	copy(sig[:], out)
	return sig, nil
}

// withRegistrationForkVersion completes a VALIDATOR_REGISTRATION request
// without a genesis_fork_version (validator clients send none: the builder
// domain uses the network's genesis fork version, which the request does
// not carry) with the validator's network's, so that a validator on a test
// network gets a registration its relays accept. Other bodies, and
// registrations that name a version, are returned unchanged.
func (s *Service) withRegistrationForkVersion(body []byte, network string) ([]byte, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body, nil // not an object: the replicas refuse it
	}
	var typ string
	if json.Unmarshal(m["type"], &typ) != nil || typ != eth2.TypeValidatorRegistration {
		return body, nil
	}
	if _, ok := m["genesis_fork_version"]; ok {
		return body, nil
	}
	if _, ok := m["genesisForkVersion"]; ok {
		return body, nil
	}
	net, err := s.EthereumNetwork(network)
	if err != nil {
		return nil, err
	}
	m["genesis_fork_version"], _ = json.Marshal(net.GenesisForkVersion.String())
	return json.Marshal(m)
}

// slashableError is the HSM's slashing refusal, as ErrSlashable, keeping
// the replicas' message (it names the conflicting record) as it is.
type slashableError struct{ err error }

func (e *slashableError) Error() string   { return e.err.Error() }
func (e *slashableError) Unwrap() []error { return []error{ErrSlashable, e.err} }
