package wallet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialects of the storage.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// store is the SQL storage: one *sql.DB and the dialect its queries are
// rebound to. Queries are written with ? placeholders and portable SQL
// (TEXT, BIGINT, ON CONFLICT DO NOTHING); rebind turns them into $n for
// PostgreSQL.
type store struct {
	db      *sql.DB
	dialect string
}

// openStore opens the database named by dsn: "postgres://…" or
// "postgresql://…" uses pgx, "sqlite:PATH" or a plain PATH uses SQLite.
func openStore(ctx context.Context, dsn string) (*store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(16)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("%w: connect to postgres: %v", ErrUnavailable, redactDSN(err.Error(), dsn))
		}
		return &store{db: db, dialect: dialectPostgres}, nil
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("%w: database path %q (want sqlite:/path/wallet.db, a path, or postgres://…)", ErrInvalid, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// Create the file with mode 0600 before SQLite does; its -wal and
		// -shm files inherit the database file's permissions.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("database file mode: %w", err)
		}
		q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open("sqlite", "file:"+path+q)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One connection: SQLite has one writer anyway, and a single
		// connection serializes transactions without SQLITE_BUSY.
		db.SetMaxOpenConns(1)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		return &store{db: db, dialect: dialectSQLite}, nil
	}
}

// redactDSN removes the DSN (which may hold a password) from a driver message.
func redactDSN(msg, dsn string) string {
	return strings.ReplaceAll(msg, dsn, "<dsn>")
}

// rebind turns ? placeholders into $1, $2, … for PostgreSQL. Queries in
// this package never contain a literal question mark.
func (s *store) rebind(q string) string {
	if s.dialect != dialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbq binds a querier to the store's dialect.
type dbq struct {
	s *store
	q querier
}

func (d dbq) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.q.ExecContext(ctx, d.s.rebind(query), args...)
}

func (d dbq) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.q.QueryContext(ctx, d.s.rebind(query), args...)
}

func (d dbq) row(ctx context.Context, query string, args ...any) *sql.Row {
	return d.q.QueryRowContext(ctx, d.s.rebind(query), args...)
}

// q returns the store's non-transactional querier.
func (s *store) q() dbq { return dbq{s: s, q: s.db} }

// inTx runs f in a transaction, committing if it returns nil.
func (s *store) inTx(ctx context.Context, f func(tx dbq) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(dbq{s: s, q: tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "PRIMARY KEY constraint failed") ||
		strings.Contains(m, "constraint failed: UNIQUE")
}

// migrations are applied in order; migration i (1-based) brings the schema
// to version i. Never edit a released migration: append a new one.
var migrations = []string{
	// 1: wallets, creation intents, transactions, UTXO locks, tokens.
	`CREATE TABLE wallets (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		network TEXT NOT NULL,
		key_id TEXT NOT NULL UNIQUE,
		public_key TEXT NOT NULL,
		address TEXT NOT NULL,
		label TEXT NOT NULL,
		withdrawal_address TEXT NOT NULL DEFAULT '',
		compounding BIGINT NOT NULL DEFAULT 0,
		validator_index BIGINT,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE wallet_intents (
		idem_key TEXT PRIMARY KEY,
		req_hash TEXT NOT NULL,
		wallet_id TEXT NOT NULL UNIQUE,
		key_id TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE transactions (
		id TEXT PRIMARY KEY,
		wallet_id TEXT NOT NULL REFERENCES wallets(id),
		idem_key TEXT NOT NULL,
		req_hash TEXT NOT NULL,
		origin TEXT NOT NULL,
		txid TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL,
		outputs TEXT NOT NULL,
		amount BIGINT NOT NULL DEFAULT 0,
		fee BIGINT NOT NULL DEFAULT 0,
		fee_rate BIGINT NOT NULL DEFAULT 0,
		vsize BIGINT NOT NULL DEFAULT 0,
		change_amount BIGINT NOT NULL DEFAULT 0,
		inputs BIGINT NOT NULL DEFAULT 0,
		confirmations BIGINT NOT NULL DEFAULT 0,
		block_height BIGINT NOT NULL DEFAULT 0,
		note TEXT NOT NULL DEFAULT '',
		psbt TEXT NOT NULL DEFAULT '',
		raw_tx TEXT NOT NULL DEFAULT '',
		error TEXT NOT NULL DEFAULT '',
		broadcast BIGINT NOT NULL DEFAULT 0,
		sign_requested BIGINT NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		UNIQUE (wallet_id, idem_key)
	);
	CREATE INDEX transactions_wallet ON transactions (wallet_id, created_at);
	CREATE INDEX transactions_status ON transactions (status);
	CREATE TABLE utxo_locks (
		outpoint TEXT PRIMARY KEY,
		wallet_id TEXT NOT NULL REFERENCES wallets(id),
		tx_id TEXT NOT NULL REFERENCES transactions(id),
		value BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE INDEX utxo_locks_tx ON utxo_locks (tx_id);
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		secret_hash TEXT NOT NULL UNIQUE,
		scopes TEXT NOT NULL,
		bootstrap BIGINT NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL,
		expires_at BIGINT,
		revoked_at BIGINT,
		last_used BIGINT
	);
	CREATE UNIQUE INDEX tokens_bootstrap ON tokens (bootstrap) WHERE bootstrap = 1`,
	// 2: BIP-32 derived addresses (addresses.go): the root of a wallet's
	// tree, and every address handed out or used as change.
	`CREATE TABLE wallet_hd (
		wallet_id TEXT PRIMARY KEY REFERENCES wallets(id),
		group_key TEXT NOT NULL,
		chain_code TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE wallet_addresses (
		wallet_id TEXT NOT NULL REFERENCES wallets(id),
		branch BIGINT NOT NULL,
		idx BIGINT NOT NULL,
		address TEXT NOT NULL UNIQUE,
		used BIGINT NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (wallet_id, branch, idx)
	)`,
	// 3: recovery paths of Bitcoin wallets (recovery.go).
	recoveryMigration,
	// 4: fee bumps (replaces, replaced_by) and webhooks (bump.go, webhooks.go).
	migrationBumpWebhooks,
}

// migrate creates schema_migrations if needed and applies every migration
// newer than the database's version, each in its own transaction. A
// database with a version newer than this code is refused.
func (s *store) migrate(ctx context.Context) error {
	if _, err := s.q().exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var cur sql.NullInt64
	if err := s.q().row(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if int(cur.Int64) > len(migrations) {
		return fmt.Errorf("%w: database schema version %d is newer than this program (%d)", ErrUnsupported, cur.Int64, len(migrations))
	}
	for v := int(cur.Int64) + 1; v <= len(migrations); v++ {
		err := s.inTx(ctx, func(tx dbq) error {
			// Re-check inside the transaction: another process may have
			// migrated since (PostgreSQL); the primary key makes a race lose.
			var done int
			if err := tx.row(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			for _, stmt := range strings.Split(migrations[v-1], ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.exec(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	return nil
}

// schemaVersion returns the highest applied migration.
func (s *store) schemaVersion(ctx context.Context) (int, error) {
	var cur sql.NullInt64
	err := s.q().row(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur)
	return int(cur.Int64), err
}
