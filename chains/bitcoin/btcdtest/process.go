package btcdtest

import (
	"fmt"
	"os"
)

// StartProcess starts a regtest btcd outside of a test (vhsm devnet
// --btc-regtest): its data and logs live in dir (created if absent, reused
// if present, so the chain survives a restart), it mines to miningAddrs,
// and it returns once its RPC server answers. The caller stops it with
// [Node.Stop]. A missing binary is [ErrNotFound].
func StartProcess(dir string, miningAddrs ...string) (*Node, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("btcd dir: %w", err)
	}
	return start(bin, dir, miningAddrs)
}
