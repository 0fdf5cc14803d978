package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/privval"
)

// LoadOrGenPrivValidator loads the validator key and last-sign state of
// home (SignerPV, signstate.go), generating a key when none exists. The
// state comes from SignStateFile; a home without one starts from the
// FilePV state of earlier versions (PrivValState) when there is one, and
// from an empty state otherwise. Unlike privval.LoadFilePV, which exits the
// process on a damaged file, it returns ErrConfig.
func LoadOrGenPrivValidator(home string) (*SignerPV, error) {
	keyFile := filepath.Join(home, PrivValKey)
	stateFile := filepath.Join(home, PrivValState)
	for _, d := range []string{filepath.Dir(keyFile), filepath.Dir(stateFile)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	var key privval.FilePVKey
	kb, err := os.ReadFile(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		pv, err := privval.GenFilePV(keyFile, stateFile, nil)
		if err != nil {
			return nil, fmt.Errorf("node: generate validator key: %w", err)
		}
		if err := catch("save validator key", pv.Key.Save); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		key = pv.Key
	case err != nil:
		return nil, fmt.Errorf("%w: validator key: %w", ErrConfig, err)
	default:
		if err := cmtjson.Unmarshal(kb, &key); err != nil || key.PrivKey == nil {
			return nil, fmt.Errorf("%w: validator key %s is damaged", ErrConfig, keyFile)
		}
		key.PubKey = key.PrivKey.PubKey()
		key.Address = key.PubKey.Address()
	}
	st, err := openSignState(filepath.Join(home, SignStateFile), func() (*signState, error) {
		sb, err := os.ReadFile(stateFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &signState{}, nil
		case err != nil:
			return nil, fmt.Errorf("%w: validator state: %w", ErrConfig, err)
		}
		var old privval.FilePVLastSignState
		if err := cmtjson.Unmarshal(sb, &old); err != nil {
			// Refuse rather than reset: an empty state could double-sign.
			return nil, fmt.Errorf("%w: validator state %s is damaged", ErrConfig, stateFile)
		}
		return &signState{Height: old.Height, Round: old.Round, Step: old.Step, Signature: old.Signature, SignBytes: old.SignBytes}, nil
	})
	if err != nil {
		return nil, err
	}
	return &SignerPV{key: key, state: st}, nil
}
