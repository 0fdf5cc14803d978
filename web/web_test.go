package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="/js/app.js">`},
		{"/index.html", "text/html; charset=utf-8", "<title>vhsm wallet</title>"},
		{"/app.css", "text/css; charset=utf-8", ":root"},
		{"/js/app.js", "text/javascript; charset=utf-8", "import"},
		{"/js/api.js", "text/javascript; charset=utf-8", "Authorization"},
		{"/js/amount.js", "text/javascript; charset=utf-8", "parseSats"},
		{"/js/dom.js", "text/javascript; charset=utf-8", "createTextNode"},
		{"/js/slashing.js", "text/javascript; charset=utf-8", "slashingRecord"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp := get(t, h, http.MethodGet, tc.path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", tc.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		checkSecurityHeaders(t, tc.path, resp.Header)
		if resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", tc.path)
		}
	}
}

func checkSecurityHeaders(t *testing.T, path string, hdr http.Header) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": ContentSecurityPolicy,
	}
	for k, v := range want {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
	csp := hdr.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP lacks %q", path, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
	}
}

func TestHandlerNotFound(t *testing.T) {
	h := Handler()
	for _, p := range []string{
		"/nope.html", "/js/", "/js", "/static/index.html", "/../web.go", "/web.go", "/js/../index.html",
		"/index.html/", "//index.html", "/.", "/%2e%2e/web.go", "/JS/app.js", "/v1/wallets",
	} {
		resp := get(t, h, http.MethodGet, p)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
		if strings.Contains(string(body), "<a href") || strings.Contains(string(body), "app.js") {
			t.Errorf("GET %s: body looks like a listing or a file: %q", p, body)
		}
		checkSecurityHeaders(t, p, resp.Header)
	}
}

func TestHandlerMethods(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodHead, "/app.css")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD /app.css: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if b, _ := io.ReadAll(resp.Body); len(b) != 0 {
		t.Errorf("HEAD /app.css: %d body bytes", len(b))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		resp := get(t, h, m, "/")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: status %d, want 405", m, resp.StatusCode)
		}
		if resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: Allow %q", m, resp.Header.Get("Allow"))
		}
		checkSecurityHeaders(t, m+" /", resp.Header)
	}
}

func TestHandlerConditionalGet(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodGet, "/js/app.js")
	etag := resp.Header.Get("ETag")
	req := httptest.NewRequest(http.MethodGet, "/js/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
}

// TestNoInlineCode keeps the pages compatible with the strict CSP: no
// inline scripts, styles or event handler attributes, and no HTML
// insertion of data in the scripts.
func TestNoInlineCode(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodGet, "/")
	body, _ := io.ReadAll(resp.Body)
	html := string(body)
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onerror=", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	if strings.Count(html, "<script") != 1 || !strings.Contains(html, `<script type="module" src=`) {
		t.Errorf("index.html: want exactly one external module script")
	}
	for _, p := range []string{"/js/app.js", "/js/api.js", "/js/dom.js", "/js/amount.js", "/js/slashing.js"} {
		resp := get(t, h, http.MethodGet, p)
		body, _ := io.ReadAll(resp.Body)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s uses %s", p, bad)
			}
		}
	}
}

// FuzzHandler sends arbitrary methods and paths: the handler never
// panics, always sets the security headers, and answers 200 only for an
// embedded file.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"/", "/index.html", "/js/app.js", "/../../etc/passwd", "/js/", "/%00", "/a?b=c", "//x", "/js/app.js/"} {
		f.Add("GET", s)
	}
	f.Add("POST", "/")
	f.Add("HEAD", "/app.css")
	h := Handler().(*handler)
	f.Fuzz(func(t *testing.T, method, path string) {
		req, err := http.NewRequest(method, "http://localhost"+path, nil)
		if err != nil {
			return // not a request a server could receive
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s %q: security headers missing", method, path)
		}
		if rec.Code == http.StatusOK {
			p := req.URL.Path
			if p == "/" || p == "" { // "" only from a URL without a path (http://host): the handler serves index.html, as for "/"
				p = "/index.html"
			}
			if _, ok := h.files[p]; !ok {
				t.Fatalf("%s %q: 200 for a path that is not an embedded file", method, path)
			}
		}
	})
}
