package btcdtest

import (
	"errors"
	"fmt"
	"os"
)

// StartProcess starts a regtest btcd outside of a test (vhsm devnet
// --btc-regtest): its data and logs live in dir (created if absent, reused
// if present), it mines to miningAddrs, and it returns once its RPC server
// answers and the chain saved in dir/blocks.dat ([ChainFile]) is back: btcd
// itself forgets a regtest chain at every start, so the chain survives a
// restart only through [Node.SaveChain], which [Node.Stop] calls. The
// caller stops it with [Node.Stop]. A missing binary is [ErrNotFound]; a
// chain file btcd refuses is [ErrChainFile] (the node is stopped).
func StartProcess(dir string, miningAddrs ...string) (*Node, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("btcd dir: %w", err)
	}
	n, err := start(bin, dir, miningAddrs)
	if err != nil {
		return nil, err
	}
	n.chainPath = chainPathIn(dir)
	if err := n.restoreChain(); err != nil {
		n.chainPath = "" // do not overwrite the file with a partial chain
		return nil, errors.Join(err, n.Stop())
	}
	return n, nil
}
