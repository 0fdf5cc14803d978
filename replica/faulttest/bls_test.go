package faulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// TestBLSUnderStoppedReplica: BLS signing, asked of 2t+1 replicas first
// with a hedge to the last, under the FROST fault runs' load (frostClients
// concurrent signers on one client) fault-free and with replica 3
// SIGSTOPped: every request succeeds with a signature blst verifies, and
// with VHSM_FAULT_RATIO=1 the stopped phase keeps at least half the
// fault-free throughput. The stopped replica keeps its connections open
// and answers nothing: a round waiting for it hedges once it has been
// silent for a hedge delay (a replica that answers other requests in the
// meantime is waited for a little longer instead, see client.hedgeWait).
func TestBLSUnderStoppedReplica(t *testing.T) {
	c := startCluster(t, loadPools)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	k, err := c.Client().GenerateKey(ctx, "bls-stopped", wire.SchemeBLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	const stopped = 3
	var base float64
	for i, stop := range []bool{false, true} {
		name := "fault-free"
		if stop {
			name = fmt.Sprintf("replica %d SIGSTOPped", stopped)
		}
		cl := clientWith(t, c, frostTimeout)
		for j := range 8 {
			if _, err := cl.SignBLS(ctx, k.KeyID, msgHash(fmt.Sprintf("%s warm-up %d", name, j))); err != nil {
				t.Fatalf("%s: warm-up: %v", name, err)
			}
		}
		if stop {
			if err := c.Pause(stopped); err != nil {
				t.Fatal(err)
			}
		}
		l := runLoad(ctx, name, frostPhase/2, func(msg []byte) error {
			sig, err := cl.SignBLS(ctx, k.KeyID, msg)
			if err == nil && !verifyBLS(k.PublicKey, msg, sig) {
				err = errors.New("signature does not verify")
			}
			return err
		})
		if stop {
			if err := c.Resume(stopped); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d signatures in %v, %.1f/s, %d failed; latency p50 %v, p90 %v, p99 %v, max %v", name, l.ok,
			l.elapsed.Round(10*time.Millisecond), l.rate(), l.failed, l.latency(50), l.latency(90), l.latency(99), l.latency(100))
		if l.failed > 0 {
			t.Errorf("%s: %d of %d requests failed: %s", name, l.failed, l.ok+l.failed, strings.Join(l.errs, "; "))
		}
		if l.ok == 0 {
			t.Fatalf("%s: no signature", name)
		}
		if i == 0 {
			base = l.rate()
			continue
		}
		ratio := l.rate() / base
		t.Logf("%s: %.2f of the fault-free throughput", name, ratio)
		if os.Getenv(FaultRatioEnv) == "1" && ratio < frostMinRatio {
			t.Errorf("%s: %.1f signatures/s, %.2f of the fault-free %.1f/s; want at least %.2f", name, l.rate(), ratio, base, frostMinRatio)
		}
	}
}
