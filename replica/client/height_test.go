package client

import (
	"context"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// TestMinHeightFromStatus: a client that saw no ordered result (a new
// process) names as min height of its first unordered request the
// (t+1)-th highest height the replicas report: not the height of a replica
// that lies high (which would stall every honest replica), and not 0 (which
// would let a replica that has not applied a disable answer).
func TestMinHeightFromStatus(t *testing.T) {
	fc := diseFake(t, nil)
	fc.heights = map[int]int64{1: 1 << 40, 2: 7, 3: 6, 4: 3}
	c := fc.client()
	ctx := context.Background()
	if _, err := c.Encrypt(ctx, "sym", []byte("x")); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	checked := 0
	for replica, reqs := range fc.seen {
		for _, signed := range reqs {
			r, err := fc.verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			if r.Op != wire.OpEncrypt && r.Op != wire.OpBatch {
				continue // a batch carries the min height of its items
			}
			checked++
			if r.MinHeight != 7 {
				t.Fatalf("replica %d got min height %d, want 7", replica, r.MinHeight)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no encrypt request seen")
	}
}
