package push

// WebhookHook is the Hook that sends each app's events to its WebhookURL,
// filtered by its WebhookEvents, through a WebhookSender. Apps without a
// WebhookURL send none.
type WebhookHook struct {
	sender  *WebhookSender
	targets map[string]*WebhookTarget // by app id
}

// NewWebhookHook returns the Hook for apps, posting through sender.
func NewWebhookHook(apps *Apps, sender *WebhookSender) *WebhookHook {
	h := &WebhookHook{sender: sender, targets: make(map[string]*WebhookTarget)}
	for _, app := range apps.All() {
		if app.WebhookURL == nil {
			continue
		}
		h.targets[app.ID] = &WebhookTarget{
			Credentials: Credentials{ID: app.ID, Key: app.Key, Secret: app.Secret},
			URL:         app.WebhookURL,
			Events:      app.WebhookEvents,
		}
	}
	return h
}

// HandleEvent queues e for its app's webhook; it never blocks.
func (h *WebhookHook) HandleEvent(e HookEvent) {
	if e.App == nil {
		return
	}
	t := h.targets[e.App.ID]
	if t == nil {
		return
	}
	h.sender.Enqueue(t, WebhookEventOf(e))
}

// Target returns the app's webhook target: nil for an app without a
// WebhookURL (or unknown). Targets do not change.
func (h *WebhookHook) Target(appID string) *WebhookTarget { return h.targets[appID] }

// Sender returns the sender h posts through.
func (h *WebhookHook) Sender() *WebhookSender { return h.sender }

// WebhookEventOf is the webhook event that reports e.
func WebhookEventOf(e HookEvent) WebhookEvent {
	return WebhookEvent{
		Name:     WebhookName(e.Kind.String()),
		Channel:  e.Channel,
		UserID:   e.UserID,
		Event:    e.Event,
		Data:     string(e.Data),
		SocketID: e.SocketID,
	}
}
