package btcdtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/vhsm/vhsm/replica/sealed"
)

// ChainFile names the file, in a [StartProcess] directory, that keeps the
// node's regtest chain across restarts.
//
// btcd v0.24.2 deletes its regtest block database at every start
// (removeRegressionDB in btcd.go, unconditional under --regtest, with no
// option to keep it), so the data directory alone does not carry the chain
// over. The file holds every block of the best chain after the genesis
// block, in height order, each in its wire serialization (with witnesses)
// and nothing between them; [StartProcess] submits them again
// (submitblock) before it returns.
const ChainFile = "blocks.dat"

// ErrChainFile reports a ChainFile that cannot be replayed: truncated,
// corrupt, or refused by btcd.
var ErrChainFile = errors.New("btcdtest: unusable chain file")

// maxChainFile bounds a ChainFile read at start (a devnet chain is a few
// hundred small blocks).
const maxChainFile = 1 << 30

// chainState is what SaveChain has written: the hashes of heights 1..len
// and the file's content.
type chainState struct {
	hashes []chainhash.Hash
	data   []byte
	ends   []int // ends[i]: offset in data just past block i+1
}

// SaveChain writes every block of the node's best chain after genesis to
// DIR/blocks.dat ([ChainFile], mode 0600, replaced atomically) when the
// chain changed since the last save; only new blocks are fetched. It does
// nothing for a node started by [Start] (a throw-away test node). Call it
// periodically so that a crash loses little; [Node.Stop] calls it before
// stopping the node.
func (n *Node) SaveChain() error {
	if n.chainPath == "" {
		return nil
	}
	n.chainMu.Lock()
	defer n.chainMu.Unlock()
	best, err := n.Client.GetBlockCount()
	if err != nil {
		return fmt.Errorf("btcdtest: save chain: getblockcount: %w", err)
	}
	st := &n.chain
	// Keep the saved blocks still on the best chain (all of them unless
	// blocks were invalidated or reorganized away): compare from the top.
	keep := min(int64(len(st.hashes)), best)
	for keep > 0 {
		h, err := n.Client.GetBlockHash(keep)
		if err != nil {
			return fmt.Errorf("btcdtest: save chain: getblockhash %d: %w", keep, err)
		}
		if *h == st.hashes[keep-1] {
			break
		}
		keep--
	}
	if keep == int64(len(st.hashes)) && keep == best {
		return nil
	}
	hashes := st.hashes[:keep:keep]
	ends := st.ends[:keep:keep]
	data := st.data[:0:0]
	if keep > 0 {
		data = bytes.Clone(st.data[:st.ends[keep-1]])
	}
	buf := bytes.NewBuffer(data)
	for height := keep + 1; height <= best; height++ {
		h, err := n.Client.GetBlockHash(height)
		if err != nil {
			return fmt.Errorf("btcdtest: save chain: getblockhash %d: %w", height, err)
		}
		blk, err := n.Client.GetBlock(h)
		if err != nil {
			return fmt.Errorf("btcdtest: save chain: getblock %s: %w", h, err)
		}
		if err := blk.Serialize(buf); err != nil {
			return fmt.Errorf("btcdtest: save chain: %w", err)
		}
		hashes = append(hashes, *h)
		ends = append(ends, buf.Len())
	}
	if err := sealed.WriteFileAtomic(n.chainPath, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("btcdtest: save chain: %w", err)
	}
	*st = chainState{hashes: hashes, data: buf.Bytes(), ends: ends}
	return nil
}

// restoreChain submits the blocks of DIR/blocks.dat that the node does not
// have, in order. A missing file is an empty chain.
func (n *Node) restoreChain() error {
	n.chainMu.Lock()
	defer n.chainMu.Unlock()
	f, err := os.Open(n.chainPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("btcdtest: restore chain: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxChainFile+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("btcdtest: restore chain: %w", err)
	}
	if len(data) > maxChainFile {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrChainFile, n.chainPath, maxChainFile)
	}
	blocks, ends, err := decodeChain(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrChainFile, n.chainPath, err)
	}
	have, err := n.Client.GetBlockCount()
	if err != nil {
		return fmt.Errorf("btcdtest: restore chain: getblockcount: %w", err)
	}
	hashes := make([]chainhash.Hash, len(blocks))
	for i, b := range blocks {
		hashes[i] = b.BlockHash()
		if int64(i+1) <= have {
			continue // already there (a btcd that kept its database)
		}
		if err := n.Client.SubmitBlock(btcutil.NewBlock(b), nil); err != nil {
			return fmt.Errorf("%w: %s: block %d (%s): %v", ErrChainFile, n.chainPath, i+1, hashes[i], err)
		}
	}
	if len(blocks) > 0 {
		best, err := n.Client.GetBestBlockHash()
		if err != nil {
			return fmt.Errorf("btcdtest: restore chain: getbestblockhash: %w", err)
		}
		if *best != hashes[len(hashes)-1] {
			return fmt.Errorf("%w: %s: the node's best block is %s after the replay, not the file's last block %s",
				ErrChainFile, n.chainPath, best, hashes[len(hashes)-1])
		}
	}
	n.chain = chainState{hashes: hashes, data: data, ends: ends}
	return nil
}

// decodeChain splits a ChainFile into its blocks; each must follow the one
// before it.
func decodeChain(data []byte) ([]*wire.MsgBlock, []int, error) {
	var blocks []*wire.MsgBlock
	var ends []int
	r := bytes.NewReader(data)
	for r.Len() > 0 {
		var b wire.MsgBlock
		if err := b.Deserialize(r); err != nil {
			return nil, nil, fmt.Errorf("block %d: %w", len(blocks)+1, err)
		}
		if len(blocks) > 0 && b.Header.PrevBlock != blocks[len(blocks)-1].BlockHash() {
			return nil, nil, fmt.Errorf("block %d does not follow block %d", len(blocks)+1, len(blocks))
		}
		blocks = append(blocks, &b)
		ends = append(ends, len(data)-r.Len())
	}
	return blocks, ends, nil
}

// chainPathIn is the ChainFile of a StartProcess directory.
func chainPathIn(dir string) string { return filepath.Join(dir, ChainFile) }
