package node

import (
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// closableDB guards a CometBFT database against reads racing its Close.
// CometBFT v1.0.1's Node.Stop closes the block store while consensus
// reactor goroutines may still read it (queryMaj23Routine), and the store
// panics on the resulting error, which would bring the whole replica process
// down during a clean in-process shutdown. After Close, reads find nothing
// (the node is stopping; nothing acts on them) instead of failing.
type closableDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

// dbProvider is cmtcfg.DefaultDBProvider with every database guarded.
func dbProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &closableDB{DB: db}, nil
}

func (d *closableDB) Get(key []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil
	}
	return d.DB.Get(key)
}

func (d *closableDB) Has(key []byte) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false, nil
	}
	return d.DB.Has(key)
}

func (d *closableDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}
