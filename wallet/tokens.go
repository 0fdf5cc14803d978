package wallet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TokenPrefix starts every API token secret.
const TokenPrefix = "vhsm_"

// tokenSecretLen is the length of a secret: prefix + base64url of 32 bytes.
var tokenSecretLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(32)

// errBootstrapExists reports that the (unique) bootstrap token exists.
var errBootstrapExists = errors.New("bootstrap token exists")

// lastUsedGranularity bounds how often Authenticate writes LastUsed.
const lastUsedGranularity = time.Minute

// scopeRank orders the scopes: each includes those below it.
var scopeRank = map[string]int{ScopeRead: 1, ScopeSpend: 2, ScopeAdmin: 3}

// HasScope reports whether tok grants scope, honoring read ⊂ spend ⊂ admin.
func HasScope(tok Token, scope string) bool {
	want, ok := scopeRank[scope]
	if !ok {
		return false
	}
	for _, s := range tok.Scopes {
		if scopeRank[s] >= want {
			return true
		}
	}
	return false
}

// hashSecret is the stored form of a token secret: hex SHA-256. The secret
// has 256 bits of entropy, so a plain hash is enough (no password KDF).
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// RequireScope returns nil if tok grants scope, else an error wrapping
// ErrForbidden that names the missing scope.
func RequireScope(tok Token, scope string) error {
	if HasScope(tok, scope) {
		return nil
	}
	return fmt.Errorf("%w: this operation needs the %q scope", ErrForbidden, scope)
}

func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("%w: at least one scope is required (read, spend, admin)", ErrInvalid)
	}
	var out []string
	for _, sc := range scopes {
		if _, ok := scopeRank[sc]; !ok {
			return nil, fmt.Errorf("%w: unknown scope %q (read, spend, admin)", ErrInvalid, truncate(sc, 20))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return scopeRank[a] - scopeRank[b] })
	return out, nil
}

// CreateToken creates an API token and returns its secret (shown once;
// only its SHA-256 is stored) and public record. ttl 0 means no expiry.
func (s *Service) CreateToken(ctx context.Context, name string, scopes []string, ttl time.Duration) (string, Token, error) {
	return s.createToken(ctx, name, scopes, ttl, false)
}

func (s *Service) createToken(ctx context.Context, name string, scopes []string, ttl time.Duration, bootstrap bool) (string, Token, error) {
	if name == "" {
		return "", Token{}, fmt.Errorf("%w: token name is required", ErrInvalid)
	}
	if err := checkText("name", name, MaxLabelLen, false); err != nil {
		return "", Token{}, err
	}
	sc, err := checkScopes(scopes)
	if err != nil {
		return "", Token{}, err
	}
	if ttl < 0 {
		return "", Token{}, fmt.Errorf("%w: ttl must not be negative", ErrInvalid)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("%w: randomness unavailable", ErrUnavailable)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	clear(raw)
	now := s.now().UTC()
	tok := Token{ID: newID("tok_", 8), Name: name, Scopes: sc, CreatedAt: fromNano(now.UnixNano())}
	var exp sql.NullInt64
	if ttl > 0 {
		e := now.Add(ttl)
		exp = sql.NullInt64{Int64: e.UnixNano(), Valid: true}
		et := fromNano(exp.Int64)
		tok.ExpiresAt = &et
	}
	b := int64(0)
	if bootstrap {
		b = 1
	}
	if _, err := s.st.q().exec(ctx, `INSERT INTO tokens (id, name, secret_hash, scopes, bootstrap, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tok.ID, tok.Name, hashSecret(secret), strings.Join(sc, " "), b, now.UnixNano(), exp); err != nil {
		if bootstrap && isUnique(err) {
			return "", Token{}, errBootstrapExists
		}
		return "", Token{}, s.dbErr("store token", err)
	}
	s.log.Info("token_created", "token_id", tok.ID, "scopes", strings.Join(sc, " "))
	return secret, tok, nil
}

const tokenCols = `id, name, secret_hash, scopes, created_at, expires_at, revoked_at, last_used`

func scanToken(sc interface{ Scan(...any) error }) (Token, string, error) {
	var t Token
	var hash, scopes string
	var created int64
	var exp, rev, used sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Name, &hash, &scopes, &created, &exp, &rev, &used); err != nil {
		return Token{}, "", err
	}
	t.Scopes = strings.Fields(scopes)
	t.CreatedAt = fromNano(created)
	opt := func(n sql.NullInt64) *time.Time {
		if !n.Valid {
			return nil
		}
		tt := fromNano(n.Int64)
		return &tt
	}
	t.ExpiresAt, t.RevokedAt, t.LastUsed = opt(exp), opt(rev), opt(used)
	return t, hash, nil
}

// Authenticate returns the token whose secret this is. Unknown, revoked
// and expired tokens fail with ErrUnauthorized, all with the same message.
// The lookup is by SHA-256 of the secret (an index lookup on a hash does
// not leak the secret), and the stored hash is compared again in constant
// time. LastUsed is written at most once a minute per token.
func (s *Service) Authenticate(ctx context.Context, secret string) (Token, error) {
	unauthorized := fmt.Errorf("%w: invalid, expired or revoked token", ErrUnauthorized)
	if len(secret) != tokenSecretLen || !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, unauthorized
	}
	want := hashSecret(secret)
	tok, hash, err := scanToken(s.st.q().row(ctx, `SELECT `+tokenCols+` FROM tokens WHERE secret_hash = ?`, want))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, unauthorized
	}
	if err != nil {
		return Token{}, s.dbErr("authenticate", err)
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
		return Token{}, unauthorized
	}
	now := s.now()
	if tok.RevokedAt != nil || (tok.ExpiresAt != nil && !now.Before(*tok.ExpiresAt)) {
		return Token{}, unauthorized
	}
	if tok.LastUsed == nil || now.Sub(*tok.LastUsed) >= lastUsedGranularity {
		// Best effort: a failed bookkeeping write does not refuse the token.
		if _, err := s.st.q().exec(ctx, `UPDATE tokens SET last_used = ? WHERE id = ?`, now.UnixNano(), tok.ID); err == nil {
			t := fromNano(now.UnixNano())
			tok.LastUsed = &t
		}
	}
	return tok, nil
}

// ListTokens returns every token's public record, oldest first.
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.st.q().query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, s.dbErr("list tokens", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, _, err := scanToken(rows)
		if err != nil {
			return nil, s.dbErr("list tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("list tokens", err)
	}
	return out, nil
}

// RevokeToken revokes a token for good. Revoking a revoked token is a
// no-op; an unknown id is ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	if err := checkID("token", "tok_", id, 16); err != nil {
		return err
	}
	res, err := s.st.q().exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.nowNano(), id)
	if err != nil {
		return s.dbErr("revoke token", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := s.st.q().row(ctx, `SELECT 1 FROM tokens WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no token %q", ErrNotFound, id)
		} else if err != nil {
			return s.dbErr("revoke token", err)
		}
	}
	s.log.Info("token_revoked", "token_id", id)
	return nil
}

// EnsureBootstrapToken creates the first admin token, named name, if no
// bootstrap token was ever created, and returns its secret with created
// true. Later calls return ("", false, nil): the secret is not stored and
// cannot be shown again (create another with an admin token).
func (s *Service) EnsureBootstrapToken(ctx context.Context, name string) (string, bool, error) {
	var n int
	if err := s.st.q().row(ctx, `SELECT COUNT(*) FROM tokens WHERE bootstrap = 1`).Scan(&n); err != nil {
		return "", false, s.dbErr("bootstrap token", err)
	}
	if n > 0 {
		return "", false, nil
	}
	secret, _, err := s.createToken(ctx, name, []string{ScopeAdmin}, 0, true)
	if errors.Is(err, errBootstrapExists) {
		return "", false, nil // a concurrent caller created it
	}
	if err != nil {
		return "", false, err
	}
	return secret, true, nil
}
