package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wssd/wssd/push"
)

// pushCollector exports the push server's figures, read at each scrape:
// per app (their number is the operator's, so the label is bounded) the
// connections, occupied channels and subscriptions; the HTTP API's answers
// by route and status; the webhook sender's counts.
type pushCollector struct {
	srv      *push.Server
	api      *push.API
	webhooks *push.WebhookSender

	conns, channels, subs               *prometheus.Desc
	apiRequests                         *prometheus.Desc
	delivered, retried, dropped, failed *prometheus.Desc
	cancelled                           *prometheus.Desc
}

// RegisterPush registers the push server's series on r: wssd_push_*
// gauges per app, wssd_api_requests_total{route,status} and
// wssd_webhook_events_*_total. api and webhooks may be nil.
func (r *Registry) RegisterPush(srv *push.Server, api *push.API, webhooks *push.WebhookSender) error {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return r.Registerer().Register(&pushCollector{
		srv: srv, api: api, webhooks: webhooks,
		conns:       d("push_connections", "Pusher protocol connections, by app.", "app"),
		channels:    d("push_channels", "Occupied channels, by app.", "app"),
		subs:        d("push_subscriptions", "Channel subscriptions, by app.", "app"),
		apiRequests: d("api_requests_total", "HTTP API requests answered, by route pattern and status.", "route", "status"),
		delivered:   d("webhook_events_delivered_total", "Webhook events delivered (a 2xx answer)."),
		retried:     d("webhook_events_retried_total", "Webhook events sent again after a failed attempt."),
		dropped:     d("webhook_events_dropped_total", "Webhook events dropped because the queue was full."),
		failed:      d("webhook_events_failed_total", "Webhook events given up after retrying for the retry period."),
		cancelled:   d("webhook_events_cancelled_total", "channel_vacated and member_removed events cancelled by a return within the delay."),
	})
}

func (p *pushCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.conns, p.channels, p.subs, p.apiRequests, p.delivered, p.retried, p.dropped, p.failed, p.cancelled} {
		ch <- d
	}
}

func (p *pushCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	state := p.srv.State()
	for _, app := range p.srv.Apps().All() {
		n := countsOf(state, app.ID)
		gauge(p.conns, n.Connections, app.ID)
		gauge(p.channels, n.Channels, app.ID)
		gauge(p.subs, n.Subscriptions, app.ID)
	}
	if p.api != nil {
		for k, n := range p.api.Stats() {
			counter(p.apiRequests, n, k.Route, strconv.Itoa(k.Status))
		}
	}
	if p.webhooks != nil {
		st := p.webhooks.Stats()
		counter(p.delivered, st.Delivered)
		counter(p.retried, st.Retried)
		counter(p.dropped, st.Dropped)
		counter(p.failed, st.Failed)
		counter(p.cancelled, st.Cancelled)
	}
}

// countsOf returns this process's figures for the app: in a cluster each
// node exports its own share (a State's Connections and Channels would ask
// every node at each scrape). A State that does not embed push.LocalState
// is asked through the State interface.
func countsOf(state push.State, app string) push.LocalCounts {
	if l, ok := state.(interface{ LocalCounts(string) push.LocalCounts }); ok {
		return l.LocalCounts(app)
	}
	n := push.LocalCounts{Connections: state.Connections(app)}
	for _, c := range state.Channels(app, "") {
		n.Channels++
		n.Subscriptions += c.SubscriptionCount
	}
	return n
}
