package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// NewLogger adapts slog to CometBFT's logger: Error becomes Warn (CometBFT
// logs many recoverable conditions at ERROR), Info and Debug are dropped, and
// the mempool's duplicate-transaction lines, expected since every replica
// submits the same requests, are filtered out.
func NewLogger(l *slog.Logger) cmtlog.Logger {
	return &cometLogger{l: l.With("component", "cometbft")}
}

type cometLogger struct {
	l      *slog.Logger
	module string
	// with holds the key/values of each With, turned into attributes only
	// when a line is logged: CometBFT calls With in its gossip loops, per
	// vote and per peer, and almost never logs.
	with [][]any
}

var _ cmtlog.Logger = (*cometLogger)(nil)

func (c *cometLogger) Debug(string, ...any) {}
func (c *cometLogger) Info(string, ...any)  {}

func (c *cometLogger) Error(msg string, keyvals ...any) {
	if c.noise(msg) {
		return
	}
	if !c.l.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	l := c.l
	for _, kv := range c.with {
		l = l.With(attrs(kv)...)
	}
	l.Warn(msg, attrs(keyvals)...)
}

func (c *cometLogger) With(keyvals ...any) cmtlog.Logger {
	out := &cometLogger{l: c.l, module: c.module, with: append(c.with[:len(c.with):len(c.with)], keyvals)}
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, ok := keyvals[i].(string); ok && k == "module" {
			out.module = fmt.Sprint(keyvals[i+1])
		}
	}
	return out
}

// noise reports the mempool's duplicate-transaction messages.
func (c *cometLogger) noise(msg string) bool {
	if c.module != "mempool" {
		return false
	}
	return strings.Contains(msg, "already") || strings.Contains(msg, "recheck")
}

// attrs turns CometBFT's alternating key/values into slog arguments with
// string keys.
func attrs(keyvals []any) []any {
	out := make([]any, 0, len(keyvals))
	for i := 0; i < len(keyvals); i += 2 {
		k := fmt.Sprint(keyvals[i])
		if i+1 >= len(keyvals) {
			out = append(out, slog.String("extra", k))
			break
		}
		out = append(out, slog.Any(strings.ReplaceAll(k, "-", "_"), keyvals[i+1]))
	}
	return out
}
