// Package web is the minimal web wallet: static HTML, CSS and JavaScript
// modules (no build step, no CDN, no external fonts), embedded in the
// binary and served by [Handler] at the root of the wallet service, next to
// the REST API under /v1.
//
// The pages are a plain client of the REST API: the API token is kept in
// the tab's sessionStorage and sent as "Authorization: Bearer"; errors are
// the API's problem+json documents. Nothing from the API is inserted as
// HTML, and no inline script or style exists, so the strict
// [ContentSecurityPolicy] holds.
//
// Views: the wallet list; wallet creation (Bitcoin, optionally with a
// timelocked recovery key; or an Ethereum validator); a Bitcoin wallet
// (receive with a fresh address per click, balance, send with a dry-run
// review, fee estimates and an explicit acceptance of a flagged high fee,
// history with fee bumps of unconfirmed sends, the address list with each
// address's use, the watch-only descriptors); a validator (its
// slashing-protection record read from the admin's EIP-3076 export, the
// interchange file's download, deposit data, voluntary exit).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is the Content-Security-Policy that [Handler] sets
// on every response: the pages load only their own scripts, styles and
// images (plus data: images, used for the address QR code), connect only
// to their own origin, and may not be framed.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes maps the embedded files' extensions to their media types
// (independent of the host's MIME tables: module scripts need an exact
// JavaScript type).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

type file struct {
	data        []byte
	contentType string
	etag        string
}

// Handler serves the web wallet's embedded files: "/" is index.html, and
// every other path names one embedded file. Unknown paths and directories
// get 404 (there is no directory listing); methods other than GET and HEAD
// get 405. Every response carries the security headers: the
// [ContentSecurityPolicy], X-Content-Type-Options nosniff, X-Frame-Options
// DENY and Referrer-Policy no-referrer.
func Handler() http.Handler {
	files := make(map[string]file)
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(data)
		files["/"+strings.TrimPrefix(p, "static/")] = file{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: reading embedded files: " + err.Error()) // a build defect, not input
	}
	return &handler{files: files}
}

type handler struct {
	files map[string]file // by URL path
}

// Serves reports whether urlPath names a page or file of the web wallet
// ("/" is index.html). The REST API uses it to answer every other unknown
// path with its own problem+json document.
func (h *handler) Serves(urlPath string) bool {
	if urlPath == "/" || urlPath == "" {
		return true
	}
	_, ok := h.files[urlPath]
	return ok
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/" || p == "" {
		p = "/index.html"
	}
	f, ok := h.files[p] // exact names only: no cleaning, no directories
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", "no-cache") // revalidate with the ETag: a new binary serves new files at once
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(f.data))
}
