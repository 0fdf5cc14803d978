package api

import (
	"testing"
	"time"

	"github.com/vhsm/vhsm/wallet"
	"github.com/vhsm/vhsm/wallet/wallettest"
)

// contractBumpWebhooks exercises the fee bump, history pages and webhook
// routes against the real service (called from TestContract).
func contractBumpWebhooks(t *testing.T, base string, seen map[string]bool, env *wallettest.Env, admin, spendTok, readTok string, dest *wallet.Wallet) {
	t.Run("bump", func(t *testing.T) {
		c := &apiClient{t: t, base: base, seen: seen}
		w := env.FundedWallet("bumped", 70_000)
		req := map[string]any{"outputs": []map[string]any{{"address": dest.Address, "amount": 20_000}}, "fee_rate": 1}
		var orig wallet.Transaction
		c.want(201, &orig, "POST", "/v1/wallets/"+w.ID+"/transactions", spendTok, req, "Idempotency-Key", "bump-orig")
		path := "/v1/wallets/" + w.ID + "/transactions/" + orig.ID + "/bump"
		c.want(400, nil, "POST", path, spendTok, map[string]any{})                      // fee_rate required
		c.want(400, nil, "POST", path, spendTok, map[string]any{"fee_rate": 1})         // not above the original's
		c.want(400, nil, "POST", path, spendTok, map[string]any{"fee_rate": 2, "x": 1}) // unknown field
		c.want(403, nil, "POST", path, readTok, map[string]any{"fee_rate": 4})
		c.want(404, nil, "POST", "/v1/wallets/"+w.ID+"/transactions/tx_ffffffffffffffffffffffff/bump", spendTok, map[string]any{"fee_rate": 4})
		var nb wallet.Transaction
		c.want(201, &nb, "POST", path, spendTok, map[string]any{"fee_rate": 4}, "Idempotency-Key", "bump-1")
		if nb.Replaces != orig.ID || nb.Fee <= orig.Fee || nb.Status != wallet.StatusBroadcast {
			t.Fatalf("bump: %+v", nb)
		}
		var again wallet.Transaction
		c.want(201, &again, "POST", path, spendTok, map[string]any{"fee_rate": 4}, "Idempotency-Key", "bump-1")
		if again.ID != nb.ID {
			t.Fatalf("idempotent bump: %s then %s", nb.ID, again.ID)
		}
		var old wallet.Transaction
		c.want(200, &old, "GET", "/v1/wallets/"+w.ID+"/transactions/"+orig.ID, readTok, nil)
		if old.Status != wallet.StatusReplaced || old.ReplacedBy != nb.ID {
			t.Fatalf("original: %+v", old)
		}
		c.want(409, nil, "POST", path, spendTok, map[string]any{"fee_rate": 8})
		env.Mine(1)
		deadline := time.Now().Add(30 * time.Second)
		for {
			var got wallet.Transaction
			c.want(200, &got, "GET", "/v1/wallets/"+w.ID+"/transactions/"+nb.ID, readTok, nil)
			if got.Status == wallet.StatusConfirmed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replacement not confirmed: %+v", got)
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.want(409, nil, "POST", "/v1/wallets/"+w.ID+"/transactions/"+nb.ID+"/bump", spendTok, map[string]any{"fee_rate": 8})

		// History pages: orig, nb and the funding payment, two per page.
		var p1, p2 wallet.TxPage
		c.want(200, &p1, "GET", "/v1/wallets/"+w.ID+"/transactions?limit=2", readTok, nil)
		if len(p1.Transactions) != 2 || p1.NextCursor == "" {
			t.Fatalf("page 1: %+v", p1)
		}
		c.want(200, &p2, "GET", "/v1/wallets/"+w.ID+"/transactions?limit=2&cursor="+p1.NextCursor, readTok, nil)
		if len(p2.Transactions) != 1 || p2.NextCursor != "" || p2.Transactions[0].ID == p1.Transactions[0].ID || p2.Transactions[0].ID == p1.Transactions[1].ID {
			t.Fatalf("page 2: %+v", p2)
		}
		c.want(400, nil, "GET", "/v1/wallets/"+w.ID+"/transactions?limit=0", readTok, nil)
		c.want(400, nil, "GET", "/v1/wallets/"+w.ID+"/transactions?limit=2&cursor=bogus", readTok, nil)
	})

	t.Run("webhooks", func(t *testing.T) {
		c := &apiClient{t: t, base: base, seen: seen}
		req := map[string]any{"wallet_id": dest.ID, "url": "https://example.com/vhsm-hook", "events": []string{"received", "confirmed"}, "confirmations": 2}
		c.want(403, nil, "POST", "/v1/webhooks", spendTok, req)
		var hook wallet.Webhook
		c.want(201, &hook, "POST", "/v1/webhooks", admin, req)
		if hook.Secret == "" || hook.Confirmations != 2 || hook.WalletID != dest.ID {
			t.Fatalf("created: %+v", hook)
		}
		for _, bad := range []map[string]any{
			{"wallet_id": dest.ID, "url": "http://127.0.0.1:8080/x", "events": []string{"sent"}},
			{"wallet_id": dest.ID, "url": "gopher://example.com/", "events": []string{"sent"}},
			{"wallet_id": dest.ID, "url": "https://example.com/", "events": []string{"stolen"}},
			{"wallet_id": dest.ID, "url": "https://example.com/"},
		} {
			c.want(400, nil, "POST", "/v1/webhooks", admin, bad)
		}
		var list []wallet.Webhook
		c.want(200, &list, "GET", "/v1/webhooks?wallet_id="+dest.ID, admin, nil)
		if len(list) != 1 || list[0].ID != hook.ID || list[0].Secret != "" {
			t.Fatalf("list: %+v", list)
		}
		c.want(403, nil, "GET", "/v1/webhooks", readTok, nil)
		var got wallet.Webhook
		c.want(200, &got, "GET", "/v1/webhooks/"+hook.ID, admin, nil)
		if got.Secret != "" || got.URL != hook.URL {
			t.Fatalf("get: %+v", got)
		}
		var ds []wallet.WebhookDelivery
		c.want(200, &ds, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", admin, nil)
		c.want(204, nil, "DELETE", "/v1/webhooks/"+hook.ID, admin, nil)
		c.want(404, nil, "GET", "/v1/webhooks/"+hook.ID, admin, nil)
		c.want(404, nil, "DELETE", "/v1/webhooks/"+hook.ID, admin, nil)
		c.want(404, nil, "GET", "/v1/webhooks/"+hook.ID+"/deliveries", admin, nil)
	})
}
