package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// session is one headless Chromium tab driven by chromedp, with bounded
// waits, screenshots saved as test artifacts and the page's uncaught
// exceptions and CSP violations collected.
type session struct {
	t         *testing.T
	ctx       context.Context
	base      string // the server URL
	artifacts string // screenshots
	downloads string // files the page downloads
	shots     int
	width     int64 // viewport
	height    int64

	mu       sync.Mutex
	problems []string // uncaught exceptions, CSP violations
}

// artifactsDir returns $VHSM_ARTIFACTS/<test> (or a temporary directory)
// and logs it.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if root := os.Getenv("VHSM_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
		old, _ := filepath.Glob(filepath.Join(dir, "*.png")) // screenshots of an earlier run
		for _, f := range old {
			_ = os.Remove(f)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("artifacts: %v", err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// newSession starts Chromium (skipping the test if it is not installed) for
// at most `total`, and opens base in a tab.
func newSession(t *testing.T, base string, total time.Duration) *session {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: .ci/run installs chromium, and CI must not pass by skipping the browser tests", chromiumPath)
		}
		t.Skipf("skipping the browser test: %s not found (apt-get install chromium); CI installs it", chromiumPath)
	}
	outer, cancelOuter := context.WithTimeout(context.Background(), total)
	t.Cleanup(cancelOuter)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(outer,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	// Start the browser once, here: if it fails to start, any later use of
	// ctx (the console subscription, a failure screenshot) would allocate
	// it again, and chromedp v0.23 then panics (close of closed channel),
	// hiding the real error.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	s := &session{t: t, ctx: ctx, base: base, artifacts: artifactsDir(t), downloads: t.TempDir(), width: 1280, height: 900}

	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			text := m.Text
			if m.IsException() || (m.Type == chromedp.ConsoleError && strings.Contains(text, "Content Security Policy")) {
				s.mu.Lock()
				s.problems = append(s.problems, m.String())
				s.mu.Unlock()
			}
		}
	}()
	s.step("open the web wallet", 30*time.Second,
		chromedp.EmulateViewport(s.width, s.height),
		chromedp.Navigate(base+"/"),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior:      browser.SetDownloadBehaviorBehaviorAllow,
				DownloadPath:  s.downloads,
				EventsEnabled: ptr(true),
			})
			return err
		}),
	)
	t.Cleanup(s.checkProblems)
	return s
}

func ptr[T any](v T) *T { return &v }

// checkProblems fails the test if the page threw or violated the CSP.
func (s *session) checkProblems() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		s.t.Errorf("page console: %s", p)
	}
	s.problems = nil
}

// step runs actions with a bound; on failure it saves a screenshot and
// fails the test.
func (s *session) step(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		s.failShot(what)
		s.t.Fatalf("%s: %v (page: %s)", what, err, s.pageText())
	}
}

// failShot saves a screenshot named after a failed step.
func (s *session) failShot(what string) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, s.pageScreenshot()); err == nil {
		name := filepath.Join(s.artifacts, "FAILED-"+slug(what)+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			s.t.Logf("screenshot of the failure: %s", name)
		}
	}
}

// pageText returns the visible text of the page (for failure messages).
func (s *session) pageText() string {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "?"
	}
	if len(text) > 1500 {
		text = text[:1500] + "…"
	}
	return strings.Join(strings.Fields(text), " ")
}

// shot saves a full-page PNG screenshot as a numbered artifact.
func (s *session) shot(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, s.pageScreenshot())
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	s.shots++
	file := filepath.Join(s.artifacts, fmt.Sprintf("%02d-%s.png", s.shots, slug(name)))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
}

// pageScreenshot captures the whole page as PNG. It grows the viewport to
// the page's height for the capture (Chromium's capture beyond the
// viewport leaves the content of scroll containers blank) and restores it.
func (s *session) pageScreenshot() chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		height, err := chromedp.Evaluate[int64](`Math.ceil(Math.max(document.documentElement.scrollHeight, window.innerHeight))`)(ctx, t)
		if err != nil {
			return nil, err
		}
		height = min(max(height, 100), 8000)
		if _, err := chromedp.EmulateViewport(s.width, height)(ctx, t); err != nil {
			return nil, err
		}
		png, err := chromedp.CaptureScreenshot()(ctx, t)
		if _, rerr := chromedp.EmulateViewport(s.width, s.height)(ctx, t); err == nil {
			err = rerr
		}
		return png, err
	}
}

// setViewport changes the page's viewport (and that of later screenshots).
func (s *session) setViewport(width, height int64) {
	s.t.Helper()
	s.width, s.height = width, height
	s.step(fmt.Sprintf("viewport %dx%d", width, height), 10*time.Second, chromedp.EmulateViewport(width, height))
}

func slug(s string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](s *session, expr string) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript boolean expression until it is true, for at
// most limit. (chromedp.Poll compiles its predicate with new Function,
// which the page's CSP forbids, so this evaluates through DevTools.)
func (s *session) waitJS(what, expr string, limit time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, limit)
	defer cancel()
	var lastErr error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Boolean(`+expr+`)`))
		if err == nil && ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			s.failShot(what)
			s.t.Fatalf("waiting for %s (%s): timed out after %v (last error: %v); page: %s", what, expr, limit, lastErr, s.pageText())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitText waits until the element matching css contains text.
func (s *session) waitText(what, css, text string, limit time.Duration) {
	s.t.Helper()
	s.waitJS(what, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.textContent.includes(%q); })()`, css, text), limit)
}

// text returns the textContent of the first element matching css.
func (s *session) text(css string) string {
	s.t.Helper()
	return eval[string](s, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : ""; })()`, css))
}

// setSelect selects an option of a <select> and fires change.
func setSelect(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
			e.value = %q; e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === %q; })()`, css, value, value))(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("select %s: no option %q", css, value)
		}
		return err
	})
}

// waitDownload waits for a file whose name matches pattern to be complete
// in the downloads directory and returns its content.
func (s *session) waitDownload(pattern string, limit time.Duration) (string, []byte) {
	s.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(s.downloads)
		for _, e := range entries {
			if re.MatchString(e.Name()) && !strings.HasSuffix(e.Name(), ".crdownload") {
				data, err := os.ReadFile(filepath.Join(s.downloads, e.Name()))
				if err == nil && len(data) > 0 {
					return e.Name(), data
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, _ := os.ReadDir(s.downloads)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	s.t.Fatalf("no download matching %q within %v (have %v)", pattern, limit, names)
	return "", nil
}
