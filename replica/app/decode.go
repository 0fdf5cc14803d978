package app

import (
	"crypto/sha256"
	"sync"

	"github.com/vhsm/vhsm/threshold/dkg"
	"github.com/vhsm/vhsm/threshold/group"
)

// decodeCache remembers the last DKG messages decoded, by digest of their
// group and bytes. A replica decodes every dealing several times (CheckTx,
// FinalizeBlock, the engine following the transcript), and decoding a batch
// dealing decompresses hundreds of curve points. Decoded messages are never
// modified (threshold/dkg only reads them), so they are shared.
type decodeCache struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]dkg.Message
	order [][sha256.Size]byte // insertion order, for eviction
}

// decodeCacheSize bounds the cached messages (a few sessions' worth).
const decodeCacheSize = 128

// DecodeMessage is dkg.DecodeMessage with the app's cache of recently
// decoded messages.
func (a *App) DecodeMessage(g group.Group, b []byte) (dkg.Message, error) {
	return a.dec.decode(g, b)
}

func (c *decodeCache) decode(g group.Group, b []byte) (dkg.Message, error) {
	h := sha256.New()
	h.Write([]byte(g.Name()))
	h.Write([]byte{0})
	h.Write(b)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	c.mu.Lock()
	m, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := dkg.DecodeMessage(g, b)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]dkg.Message, decodeCacheSize)
	}
	if _, ok := c.m[k]; !ok {
		if len(c.order) >= decodeCacheSize {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.m[k] = m
		c.order = append(c.order, k)
	}
	return m, nil
}
