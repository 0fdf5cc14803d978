package api

import (
	"context"
	"fmt"
	"time"

	"github.com/vhsm/vhsm/wallet"
)

// The fake's fee bump, history pages and webhooks.

const fakeHook = "wh_0123456789abcdef"

func (f *fakeWallets) Bump(ctx context.Context, id, txID string, req wallet.BumpRequest) (*wallet.Transaction, error) {
	if err := f.check("Bump"); err != nil {
		return nil, err
	}
	if txID != "tx_0123456789abcdef01234567" {
		return nil, fmt.Errorf("%w: no transaction %s", wallet.ErrNotFound, txID)
	}
	if req.FeeRate < 1 || req.FeeRate > 10000 {
		return nil, fmt.Errorf("%w: fee_rate must be between 1 and 10000 sat/vB", wallet.ErrInvalid)
	}
	tx, err := f.tx(id, wallet.SendRequest{}, wallet.StatusBroadcast)
	if err != nil {
		return nil, err
	}
	tx.ID, tx.Replaces = "tx_1111111111111111111111a1", txID
	return tx, nil
}

func (f *fakeWallets) TransactionsPage(ctx context.Context, id string, req wallet.TxPageRequest) (*wallet.TxPage, error) {
	if err := f.check("TransactionsPage"); err != nil {
		return nil, err
	}
	if req.Cursor != "" && req.Cursor != "next" {
		return nil, fmt.Errorf("%w: cursor is not one this service returned", wallet.ErrInvalid)
	}
	tx, err := f.tx(id, wallet.SendRequest{}, wallet.StatusConfirmed)
	if err != nil {
		return nil, err
	}
	p := &wallet.TxPage{Transactions: []wallet.Transaction{*tx}}
	if req.Cursor == "" {
		p.NextCursor = "next"
	}
	return p, nil
}

func (f *fakeWallets) hook() wallet.Webhook {
	return wallet.Webhook{ID: fakeHook, WalletID: fakeBTC, URL: "https://example.com/hook", Events: []string{"sent"}, Confirmations: 1,
		CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
}

func (f *fakeWallets) CreateWebhook(ctx context.Context, req wallet.CreateWebhookRequest) (*wallet.Webhook, error) {
	if err := f.check("CreateWebhook"); err != nil {
		return nil, err
	}
	if _, err := f.get(req.WalletID); err != nil {
		return nil, err
	}
	h := f.hook()
	h.URL, h.Events, h.Secret = req.URL, req.Events, "whsec_fake"
	return &h, nil
}

func (f *fakeWallets) ListWebhooks(ctx context.Context, walletID string) ([]wallet.Webhook, error) {
	if err := f.check("ListWebhooks"); err != nil {
		return nil, err
	}
	return []wallet.Webhook{f.hook()}, nil
}

func (f *fakeWallets) GetWebhook(ctx context.Context, id string) (*wallet.Webhook, error) {
	if err := f.check("GetWebhook"); err != nil {
		return nil, err
	}
	if id != fakeHook {
		return nil, fmt.Errorf("%w: no webhook %q", wallet.ErrNotFound, id)
	}
	h := f.hook()
	return &h, nil
}

func (f *fakeWallets) DeleteWebhook(ctx context.Context, id string) error {
	if err := f.check("DeleteWebhook"); err != nil {
		return err
	}
	if id != fakeHook {
		return fmt.Errorf("%w: no webhook %q", wallet.ErrNotFound, id)
	}
	return nil
}

func (f *fakeWallets) WebhookDeliveries(ctx context.Context, id string) ([]wallet.WebhookDelivery, error) {
	if err := f.check("WebhookDeliveries"); err != nil {
		return nil, err
	}
	if id != fakeHook {
		return nil, fmt.Errorf("%w: no webhook %q", wallet.ErrNotFound, id)
	}
	return []wallet.WebhookDelivery{}, nil
}
