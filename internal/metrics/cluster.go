package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wssd/wssd/cluster"
)

// clusterCollector exports this node's traffic with the other nodes of
// its cluster, read from cluster.State.Stats at each scrape.
type clusterCollector struct {
	st    *cluster.State
	nodes *prometheus.Desc
	subs  *prometheus.Desc
	// counters, in the order of clusterCounters
	counters []*prometheus.Desc
}

// clusterCounters are the wssd_cluster_*_total series: name, help, and
// the Stats field each reads.
var clusterCounters = []struct {
	name, help string
	value      func(cluster.Stats) uint64
}{
	{"cluster_published_total", "Events sent to the other nodes over NATS.", func(s cluster.Stats) uint64 { return s.Published }},
	{"cluster_publish_dropped_total", "Events not sent to the other nodes: the outgoing queue was full or NATS refused them.", func(s cluster.Stats) uint64 { return s.PublishDropped }},
	{"cluster_received_total", "Events from other nodes delivered to this node's subscribers.", func(s cluster.Stats) uint64 { return s.Received }},
	{"cluster_receive_dropped_total", "Events from other nodes dropped because this node could not take them fast enough.", func(s cluster.Stats) uint64 { return s.ReceiveDropped }},
	{"cluster_slow_consumer_total", "Times a NATS subscription of this node started to drop events.", func(s cluster.Stats) uint64 { return s.SlowConsumers }},
	{"cluster_malformed_total", "Messages on the cluster's subjects that were not of its layout.", func(s cluster.Stats) uint64 { return s.Malformed }},
	{"cluster_resyncs_total", "Rewrites of this node's part of the cluster's state bucket that completed: at start, after a reconnect, a degraded decision or being taken for dead.", func(s cluster.Stats) uint64 { return s.Resyncs }},
	{"cluster_resync_keys_total", "Keys of the cluster's state bucket those rewrites read.", func(s cluster.Stats) uint64 { return s.ResyncKeys }},
	{"cluster_suspected_total", "Times another node's heartbeats stopped for the dead-after time and it was probed.", func(s cluster.Stats) uint64 { return s.Suspected }},
	{"cluster_probes_answered_total", "Probes of a suspected node that found it alive: a stall or lost heartbeats, not a death.", func(s cluster.Stats) uint64 { return s.ProbesAnswered }},
	{"cluster_query_timeouts_total", "Cluster-wide queries answered without every live node's part.", func(s cluster.Stats) uint64 { return s.QueryTimeouts }},
	{"cluster_degraded_total", "Transitions (occupied, vacated, member added or removed, online, offline) this node decided alone because the cluster's state bucket could not be used in time: they may be reported once per node.", func(s cluster.Stats) uint64 { return s.Degraded }},
	{"cluster_kv_writes_total", "Writes to the cluster's state bucket: one per local transition, more after a node's death or a resync.", func(s cluster.Stats) uint64 { return s.KVWrites }},
	{"cluster_kv_timeouts_total", "Transitions whose work on the cluster's state bucket ran out of time; those after one are decided at once, without the bucket, until it answers again.", func(s cluster.Stats) uint64 { return s.KVTimeouts }},
	{"cluster_kv_conflicts_total", "Writes to the cluster's state bucket retried because another node wrote the key first.", func(s cluster.Stats) uint64 { return s.KVConflicts }},
}

// RegisterCluster registers the cluster state's series on r: the live
// nodes, this node's channel subscriptions on NATS, and the
// wssd_cluster_*_total counters.
func (r *Registry) RegisterCluster(st *cluster.State) error {
	c := &clusterCollector{
		st:    st,
		nodes: prometheus.NewDesc("cluster_nodes", "Live nodes of the cluster, this one included, as its heartbeats tell.", nil, nil),
		subs:  prometheus.NewDesc("cluster_subscriptions", "NATS subscriptions this node holds for the channels its clients are in.", nil, nil),
	}
	for _, k := range clusterCounters {
		c.counters = append(c.counters, prometheus.NewDesc(k.name, k.help, nil, nil))
	}
	return r.Registerer().Register(c)
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.nodes
	ch <- c.subs
	for _, d := range c.counters {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(len(c.st.Nodes())))
	ch <- prometheus.MustNewConstMetric(c.subs, prometheus.GaugeValue, float64(st.Subscriptions))
	for i, k := range clusterCounters {
		ch <- prometheus.MustNewConstMetric(c.counters[i], prometheus.CounterValue, float64(k.value(st)))
	}
}

// webhooksCollector exports the cluster's webhook queue as this node sees
// it, read from cluster.Webhooks.Stats at each scrape. What the node posts
// is in wssd_webhook_events_*_total (the sender's).
type webhooksCollector struct {
	w        *cluster.Webhooks
	counters []*prometheus.Desc
}

var webhookCounters = []struct {
	name, help string
	value      func(cluster.WebhookStats) uint64
}{
	{"cluster_webhooks_published_total", "Webhook events this node stored in the cluster's webhook stream.", func(s cluster.WebhookStats) uint64 { return s.Published }},
	{"cluster_webhooks_publish_failed_total", "Webhook events the cluster's stream did not take: this node sent them itself.", func(s cluster.WebhookStats) uint64 { return s.PublishFailed }},
	{"cluster_webhooks_cancelled_total", "channel_vacated and member_removed events cancelled cluster-wide by this node's counterparts, and those counterparts.", func(s cluster.WebhookStats) uint64 { return s.Cancelled }},
	{"cluster_webhooks_malformed_total", "Messages of the webhook stream dropped: not of its layout, or of an app without webhooks on this node.", func(s cluster.WebhookStats) uint64 { return s.Malformed }},
}

// RegisterWebhooks registers the wssd_cluster_webhooks_*_total counters
// of w on r.
func (r *Registry) RegisterWebhooks(w *cluster.Webhooks) error {
	c := &webhooksCollector{w: w}
	for _, k := range webhookCounters {
		c.counters = append(c.counters, prometheus.NewDesc(k.name, k.help, nil, nil))
	}
	return r.Registerer().Register(c)
}

func (c *webhooksCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d
	}
}

func (c *webhooksCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.w.Stats()
	for i, k := range webhookCounters {
		ch <- prometheus.MustNewConstMetric(c.counters[i], prometheus.CounterValue, float64(k.value(st)))
	}
}
