package interop

import (
	"context"
	"encoding/json"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// update makes the tests that take screenshots also write the ones the
// repository keeps (docs/demo-chat.png).
var update = flag.Bool("update", false, "rewrite the screenshots kept in docs/")

// tabTimeout bounds each step a test takes in a tab: a navigation, a
// click, a wait for the page to show something.
const tabTimeout = 15 * time.Second

// newBrowser starts headless Chromium under chromedp with a fresh profile
// and no background networking, trusting over TLS only
// the keys whose SPKI hashes are given, and stops it when the test ends.
// Each chromedp.NewContext of the returned context is a new tab (see
// newTab).
func newBrowser(t *testing.T, chromium string, spki ...string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	if len(spki) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spki, ",")))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for Chromium to exit
	})
	// The first Run starts the browser; its context must live as long as
	// the browser, so it has no timeout of its own.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting Chromium: %v", err)
		}
	case <-time.After(chromiumTimeout):
		t.Fatalf("Chromium did not start within %v", chromiumTimeout)
	}
	return bctx
}

// newTab opens a new tab of the browser, its page 1000×600 CSS pixels; it is closed when the test ends,
// or earlier with the returned function, which waits for it to close.
func newTab(t *testing.T, browser context.Context) (context.Context, func()) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1000, 600)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	closeTab := func() {
		_ = chromedp.Cancel(tab)
		cancel()
	}
	t.Cleanup(closeTab)
	return tab, closeTab
}

// run runs actions in the tab within tabTimeout and fails the test on an
// error, naming the step.
func run(t *testing.T, tab context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, tabTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// waitJS evaluates the JavaScript expression expr in the tab until its
// value, as JSON, equals want's, for at most tabTimeout; otherwise it fails
// the test with the last value seen.
func waitJS(t *testing.T, tab context.Context, what, expr string, want any) {
	t.Helper()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var wantValue any
	_ = json.Unmarshal(wantJSON, &wantValue)
	deadline := time.Now().Add(tabTimeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(tab, tabTimeout)
		var err error
		last, err = chromedp.Run(ctx, chromedp.Evaluate[string]("String(JSON.stringify("+expr+"))"))
		cancel()
		if err != nil {
			t.Fatalf("%s: evaluating %s: %v", what, expr, err)
		}
		var got any
		if json.Unmarshal([]byte(last), &got) == nil && reflect.DeepEqual(got, wantValue) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s, want %s (waited %v for it)", what, last, wantJSON, tabTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
