package interop

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// The demo page's DOM, as the tests read it: the member names (sorted),
// the heading over them, the chat lines ("Name: text" for a message,
// "* text" for a line of the page's own).
const (
	demoMembers  = `[...document.querySelectorAll("#members li")].map((li) => li.textContent).sort()`
	demoCount    = `document.getElementById("count").textContent`
	demoMessages = `[...document.querySelectorAll("#messages li")].map((li) => li.className === "sys" ? "* " + li.textContent : li.querySelector(".who").textContent + ": " + li.lastChild.textContent)`
	demoState    = `document.getElementById("state").textContent`
)

// TestDemoChat runs `wssd` as make run does (the generated development
// app, over ws and, with -tls-dev, wss) and drives its demo chat page in
// two headless Chromium tabs: Ann and Bob join the presence channel under
// their names and each sees both in the member list; each sends a message
// that the other receives as a client event and that is not echoed back to
// its sender; Ann opens a second tab, which adds no member to Bob's page
// and whose closing removes none; Bob's tab closes and Ann sees him leave. A screenshot of
// Ann's page after the exchange goes into the test's temporary directory,
// and with -update into docs/demo-chat.png.
func TestDemoChat(t *testing.T) {
	t.Parallel()
	chromium := requireProgram(t, "chromium", "Chromium (Debian package chromium)", "--version")

	forEachTransport(t, func(t *testing.T, tr transport) {
		demo, spki := startDevWssd(t, tr)
		browser := newBrowser(t, chromium, spki...)
		ann, _ := newTab(t, browser)
		bob, closeBob := newTab(t, browser)

		joinAs(t, ann, demo, "Ann")
		waitJS(t, ann, "Ann alone", demoMembers, []string{"Ann"})
		waitJS(t, ann, "Ann's state", demoState, "connected")

		joinAs(t, bob, demo, "Bob")
		waitJS(t, bob, "Bob's members", demoMembers, []string{"Ann", "Bob"})
		waitJS(t, bob, "Bob's count", demoCount, "Members (2)")
		waitJS(t, ann, "Ann's members after Bob joined", demoMembers, []string{"Ann", "Bob"})
		waitJS(t, ann, "Ann's count", demoCount, "Members (2)")

		say(t, ann, "hello Bob")
		waitJS(t, bob, "Bob's chat", demoMessages, []string{"* You joined as Bob.", "Ann: hello Bob"})
		say(t, bob, "hi Ann")
		// Ann's own line is the page's; the server must not echo it back
		// (a second "Ann: hello Bob").
		waitJS(t, ann, "Ann's chat", demoMessages, []string{"* You joined as Ann.", "* Bob joined.", "Ann: hello Bob", "Bob: hi Ann"})
		waitJS(t, bob, "Bob's chat", demoMessages, []string{"* You joined as Bob.", "Ann: hello Bob", "Bob: hi Ann"})

		png, err := chromedp.Run(ann, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		shot := filepath.Join(t.TempDir(), "demo-chat.png")
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of Ann's page: %s (%d bytes)", shot, len(png))
		if *update && tr.TLS {
			if err := os.WriteFile(filepath.Join("..", "docs", "demo-chat.png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// Ann in a second tab is the same member: Bob's page neither
		// gains a member nor says she joined, nor loses her or says she
		// left when that tab closes. (Bob's page is read once Ann's next
		// message is there; with a per-tab member_removed, it came before
		// in every run.)
		ann2, closeAnn2 := newTab(t, browser)
		joinAs(t, ann2, demo, "Ann")
		waitJS(t, ann2, "the second tab's members", demoMembers, []string{"Ann", "Bob"})
		closeAnn2()
		say(t, ann, "still here")
		waitJS(t, bob, "Bob's chat after Ann's second tab came and went", demoMessages,
			[]string{"* You joined as Bob.", "Ann: hello Bob", "Bob: hi Ann", "Ann: still here"})
		waitJS(t, bob, "Bob's members after Ann's second tab came and went", demoMembers, []string{"Ann", "Bob"})

		closeBob()
		waitJS(t, ann, "Ann's members after Bob left", demoMembers, []string{"Ann"})
		waitJS(t, ann, "Ann's count after Bob left", demoCount, "Members (1)")
		waitJS(t, ann, "Ann's chat after Bob left", demoMessages,
			[]string{"* You joined as Ann.", "* Bob joined.", "Ann: hello Bob", "Bob: hi Ann", "Ann: still here", "* Bob left."})
	})
}

// joinAs loads the demo page in the tab and joins the chat as name.
func joinAs(t *testing.T, tab context.Context, demo, name string) {
	t.Helper()
	run(t, tab, name+" joins",
		chromedp.Navigate(demo),
		// The page enables Join once its script can take the click.
		chromedp.WaitEnabled(chromedp.CSS("#join-form button")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.Click(chromedp.CSS("#join-form button")),
		chromedp.WaitVisible(chromedp.CSS("#chat")),
	)
}

// say sends text from the demo page in the tab.
func say(t *testing.T, tab context.Context, text string) {
	t.Helper()
	run(t, tab, "sending "+text,
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.Click(chromedp.CSS("#send-form button")),
	)
}
