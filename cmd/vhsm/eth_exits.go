package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
)

// maxExitsFile bounds the --from file of vhsm eth exits.
const maxExitsFile = 1 << 20

// exitTarget is one validator of vhsm eth exits: its HSM key and its
// beacon-chain index.
type exitTarget struct {
	keyID string
	index uint64
}

// parseExitTarget parses KEY=INDEX.
func parseExitTarget(s string) (exitTarget, error) {
	key, idx, ok := strings.Cut(strings.TrimSpace(s), "=")
	key, idx = strings.TrimSpace(key), strings.TrimSpace(idx)
	if !ok || !validKeyID(key) {
		return exitTarget{}, fmt.Errorf("%w: %q: want KEY=INDEX (a key id, =, the validator's index)", errETHInput, truncateFor(s))
	}
	n, err := ethereum.ParseUint64(idx)
	if err != nil {
		return exitTarget{}, fmt.Errorf("%w: %s: validator index: %v", errETHInput, key, err)
	}
	return exitTarget{keyID: key, index: n}, nil
}

// truncateFor shortens user input quoted in an error.
func truncateFor(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// parseExitTargets reads KEY=INDEX lines (blank lines and # comments
// skipped) and the --validator values, refusing duplicates of a key or an
// index and more than maxNewValidators in all.
func parseExitTargets(file []byte, flags []string) ([]exitTarget, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: --from: %v", errETHInput, err)
	}
	lines = append(lines, flags...)
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: no validators: give --validator KEY=INDEX (repeatable) or --from FILE", errETHInput)
	}
	if len(lines) > maxNewValidators {
		return nil, fmt.Errorf("%w: %d validators; at most %d per file", errETHInput, len(lines), maxNewValidators)
	}
	out := make([]exitTarget, 0, len(lines))
	keys, idxs := map[string]bool{}, map[uint64]string{}
	for _, l := range lines {
		t, err := parseExitTarget(l)
		if err != nil {
			return nil, err
		}
		if keys[t.keyID] {
			return nil, fmt.Errorf("%w: key %s is listed twice", errETHInput, t.keyID)
		}
		if other, ok := idxs[t.index]; ok {
			return nil, fmt.Errorf("%w: index %d is given to both %s and %s", errETHInput, t.index, other, t.keyID)
		}
		keys[t.keyID], idxs[t.index] = true, t.keyID
		out = append(out, t)
	}
	return out, nil
}

// writeNewFile writes data to path atomically (a temporary file in the same
// directory, fsynced, then hard-linked into place) with mode 0600, and
// fails with fs.ErrExist rather than replace an existing file.
func writeNewFile(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s: %w (not overwritten)", path, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vhsm-exits-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w (not overwritten)", path, fs.ErrExist)
		}
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ethExitsJSON is the --json output of vhsm eth exits.
type ethExitsJSON struct {
	File       string          `json:"file"`
	Network    string          `json:"network"`
	Epoch      uint64          `json:"epoch"`
	Validators []ethExitsEntry `json:"validators"`
}

type ethExitsEntry struct {
	KeyID          string `json:"key_id"`
	Pubkey         string `json:"pubkey"`
	ValidatorIndex uint64 `json:"validator_index"`
}

func (c *cli) ethExitsCmd() *cobra.Command {
	var (
		net             ethNetFlags
		epoch, from     string
		out             string
		validatorsFlags []string
	)
	cmd := &cobra.Command{
		Use:   "exits --epoch E --network NET --out FILE (--validator KEY=INDEX ... | --from FILE)",
		Short: "Presign voluntary exits for many validators into one file for vhsm broadcast eth",
		Long: `Sign a voluntary exit (EIP-7044 domain) for each validator given as KEY=INDEX — the HSM key id
and the validator's beacon-chain index — with --validator (repeatable) or --from FILE (one KEY=INDEX
per line; blank lines and # comments skipped), at most 1000, and write them as one JSON array of
SignedVoluntaryExit to --out (the --from lines first, then the --validator values). Everything is checked before anything is signed (unknown or non-BLS
key, duplicate key or index: nothing signed, no file). The file is written atomically with mode
0600 — a presigned exit lets whoever holds it exit the validator from --epoch on — and an existing
file is never overwritten. Submit it with: vhsm broadcast eth --beacon URL --network NET @FILE`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			ep, err := uintFlag("epoch", epoch)
			if err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("%w: --out FILE is required", errETHInput)
			}
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%w: --out %s exists (not overwritten)", errETHInput, out)
			}
			var file []byte
			if from != "" {
				if file, err = readLimited(from, maxExitsFile); err != nil {
					return fmt.Errorf("%w: --from: %v", errETHInput, err)
				}
			}
			targets, err := parseExitTargets(file, validatorsFlags)
			if err != nil {
				return err
			}
			return c.withClient(func(cl *client.Client) error {
				ctx := cmd.Context()
				res := ethExitsJSON{Network: nw.Name, Epoch: ep}
				pubs := make([]ethereum.Pubkey, len(targets))
				for i, t := range targets {
					if pubs[i], err = blsKey(ctx, cl, t.keyID); err != nil {
						return fmt.Errorf("%s: %w", t.keyID, err)
					}
					res.Validators = append(res.Validators, ethExitsEntry{KeyID: t.keyID, Pubkey: pubs[i].String(), ValidatorIndex: t.index})
				}
				exits, err := signExits(ctx, cl, nw, targets, pubs, ep)
				if err != nil {
					return err
				}
				data, err := json.MarshalIndent(exits, "", "  ")
				if err != nil {
					return err
				}
				if err := writeNewFile(out, append(data, '\n')); err != nil {
					return err
				}
				res.File = out
				return c.emit(res, fmt.Sprintf("%d voluntary exits (epoch %d) written to %s", len(exits), ep, out))
			})
		},
	}
	net.register(cmd)
	cmd.Flags().StringVar(&epoch, "epoch", "", "earliest epoch at which the exits may be processed (required)")
	cmd.Flags().StringArrayVar(&validatorsFlags, "validator", nil, "KEY=INDEX: an HSM key id and its validator index (repeatable)")
	cmd.Flags().StringVar(&from, "from", "", "a file of KEY=INDEX lines")
	cmd.Flags().StringVar(&out, "out", "", "the file to write (must not exist; written 0600)")
	return cmd
}

// signExits signs the exits, newKeyWorkers at a time (each signature is
// verified by SignVoluntaryExit); any failure fails all.
func signExits(ctx context.Context, cl *client.Client, nw ethereum.Network, targets []exitTarget, pubs []ethereum.Pubkey, epoch uint64) ([]ethereum.SignedVoluntaryExit, error) {
	exits := make([]ethereum.SignedVoluntaryExit, len(targets))
	errs := make([]error, len(targets))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(newKeyWorkers, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				msg := ethereum.VoluntaryExit{Epoch: ethereum.Uint64(epoch), ValidatorIndex: ethereum.Uint64(targets[i].index)}
				exits[i], errs[i] = ethereum.SignVoluntaryExit(ctx, cl.EthSigner(), nw, targets[i].keyID, pubs[i], msg)
			}
		}()
	}
	for i := range targets {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("exit of %s (validator %d): %w", targets[i].keyID, targets[i].index, err)
		}
	}
	return exits, nil
}

// readLimited reads the file at path, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
