package push

import "time"

// WebhookBackoff exposes the wait before retry n of a sender with o.
func WebhookBackoff(o WebhookOptions, n int) time.Duration {
	s := &WebhookSender{o: o.withDefaults()}
	return s.backoff(n)
}
