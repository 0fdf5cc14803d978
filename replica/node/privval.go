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
// home, generating a key when none exists and starting from an empty state
// when the state file is missing. Unlike privval.LoadFilePV, which exits the
// process on a damaged file, it returns ErrConfig.
func LoadOrGenPrivValidator(home string) (*privval.FilePV, error) {
	keyFile := filepath.Join(home, PrivValKey)
	stateFile := filepath.Join(home, PrivValState)
	for _, d := range []string{filepath.Dir(keyFile), filepath.Dir(stateFile)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	kb, err := os.ReadFile(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		pv, err := privval.GenFilePV(keyFile, stateFile, nil)
		if err != nil {
			return nil, fmt.Errorf("node: generate validator key: %w", err)
		}
		if err := catch("save validator key", pv.Save); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		return pv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: validator key: %w", ErrConfig, err)
	}
	var key privval.FilePVKey
	if err := cmtjson.Unmarshal(kb, &key); err != nil || key.PrivKey == nil {
		return nil, fmt.Errorf("%w: validator key %s is damaged", ErrConfig, keyFile)
	}
	pv := privval.NewFilePV(key.PrivKey, keyFile, stateFile)
	sb, err := os.ReadFile(stateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := catch("save validator state", pv.Save); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("%w: validator state: %w", ErrConfig, err)
	default:
		var st privval.FilePVLastSignState
		if err := cmtjson.Unmarshal(sb, &st); err != nil {
			// Refuse rather than reset: an empty state could double-sign.
			return nil, fmt.Errorf("%w: validator state %s is damaged", ErrConfig, stateFile)
		}
		pv.LastSignState.Height = st.Height
		pv.LastSignState.Round = st.Round
		pv.LastSignState.Step = st.Step
		pv.LastSignState.Signature = st.Signature
		pv.LastSignState.SignBytes = st.SignBytes
	}
	return pv, nil
}
