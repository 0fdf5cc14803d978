package wallet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// History pagination limits.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
	maxCursorLen     = 128
)

// TxPageRequest asks for one page of a wallet's history.
type TxPageRequest struct {
	Limit  int    // 1..MaxPageLimit; 0 means DefaultPageLimit
	Cursor string // "" for the first (newest) page, else a NextCursor
}

// TxPage is one page of history, newest first.
type TxPage struct {
	Transactions []Transaction `json:"transactions"`
	// NextCursor continues after the last transaction of this page; empty
	// on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// TransactionsPage returns one page of the wallet's history in the order
// of [Service.Transactions] (newest first: creation time, then id, both
// descending). The cursor is opaque to clients: it encodes the position
// (creation time and id) of the last transaction returned, and the next
// page starts strictly after it, so transactions recorded meanwhile
// (always newer) never shift, repeat or hide a later page. A cursor
// names a position, not a wallet: it only ever reads the wallet asked for.
// The first page records incoming payments first, as Transactions does.
func (s *Service) TransactionsPage(ctx context.Context, walletID string, req TxPageRequest) (*TxPage, error) {
	limit := req.Limit
	if limit == 0 {
		limit = DefaultPageLimit
	}
	if limit < 1 || limit > MaxPageLimit {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, MaxPageLimit)
	}
	var pos *cursorPos
	if req.Cursor != "" {
		p, err := decodeCursor(req.Cursor)
		if err != nil {
			return nil, err
		}
		pos = &p
	}
	bw, err := s.btc(ctx, walletID)
	if err != nil {
		return nil, err
	}
	if pos == nil {
		if err := s.recordIncoming(ctx, bw); err != nil && !errors.Is(err, ErrUnavailable) {
			return nil, err
		}
	}
	q := `SELECT ` + txCols + ` FROM transactions WHERE wallet_id = ?`
	args := []any{walletID}
	if pos != nil {
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, pos.created, pos.created, pos.id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rs, err := s.queryTxRows(ctx, "list transactions", q, args...)
	if err != nil {
		return nil, err
	}
	page := &TxPage{Transactions: make([]Transaction, 0, min(len(rs), limit))}
	if len(rs) > limit {
		rs = rs[:limit]
		last := rs[limit-1]
		page.NextCursor = encodeCursor(cursorPos{created: last.t.CreatedAt.UnixNano(), id: last.t.ID})
	}
	for _, r := range rs {
		t, err := s.public(ctx, r)
		if err != nil {
			return nil, err
		}
		page.Transactions = append(page.Transactions, *t)
	}
	return page, nil
}

// cursorPos is a history position: a row's created_at (unix ns) and id.
type cursorPos struct {
	created int64
	id      string
}

const cursorPrefix = "h1."

// encodeCursor renders a position as base64url("h1." created "." id).
func encodeCursor(p cursorPos) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(p.created, 10) + "." + p.id))
}

// decodeCursor parses a cursor made by encodeCursor; anything else is
// ErrInvalid.
func decodeCursor(c string) (cursorPos, error) {
	bad := fmt.Errorf("%w: cursor is not one this service returned", ErrInvalid)
	if len(c) > maxCursorLen {
		return cursorPos{}, bad
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return cursorPos{}, bad
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return cursorPos{}, bad
	}
	num, id, ok := strings.Cut(rest, ".")
	if !ok || num == "" || len(num) > 19 || (len(num) > 1 && num[0] == '0') {
		return cursorPos{}, bad
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return cursorPos{}, bad
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || checkID("transaction", "tx_", id, 24) != nil {
		return cursorPos{}, bad
	}
	return cursorPos{created: n, id: id}, nil
}
