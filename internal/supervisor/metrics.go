package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrapeTimeout bounds each request the supervisor makes to a worker's
// endpoint.
const scrapeTimeout = 5 * time.Second

// workerLabel is the label each worker's series get in the merged
// /metrics.
const workerLabel = "worker"

// Handler returns the supervisor's operations endpoint: /metrics (every
// running worker's series with a worker label, and the supervisor's own),
// /healthz and /readyz. It is meant for a listener of its own, on loopback
// or a private network: nothing on it is authenticated.
func (s *Supervisor) Handler() http.Handler {
	// No keep-alive: a scrape every few seconds needs none, and no idle
	// connection outlives the supervisor.
	client := &http.Client{Timeout: scrapeTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(
		prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return s.gather(client) }),
		promhttp.HandlerOpts{
			// A worker that does not answer leaves out its series, not
			// everyone's.
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(r.Context(), client); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	return mux
}

// gather scrapes every running worker at once and merges their series,
// labelled, with the supervisor's.
func (s *Supervisor) gather(client *http.Client) ([]*dto.MetricFamily, error) {
	workers := s.running()
	gs := make(prometheus.Gatherers, len(workers)+1)
	gs[0] = s.reg
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() {
			mfs, err := scrape(client, w.metrics, strconv.Itoa(w.index))
			gs[i+1] = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, err })
		})
	}
	wg.Wait()
	return gs.Gather()
}

// scrape reads a worker's /metrics and adds the worker label to every
// series.
func scrape(client *http.Client, addr, index string) ([]*dto.MetricFamily, error) {
	if addr == "" {
		return nil, nil
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", index, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("worker %s: /metrics answered %s", index, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		mf := new(dto.MetricFamily)
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("worker %s: %w", index, err)
		}
		for _, m := range mf.Metric {
			name, value := workerLabel, index
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		out = append(out, mf)
	}
}

// ready returns nil when every worker runs and its /readyz says 200.
func (s *Supervisor) ready(ctx context.Context, client *http.Client) error {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		return errors.New("shutting down")
	}
	workers := s.running()
	if len(workers) < s.cfg.Procs {
		return fmt.Errorf("%d of %d workers running", len(workers), s.cfg.Procs)
	}
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		if w.metrics == "" {
			continue
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.metrics+"/readyz", nil)
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", w.index, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("worker %d not ready", w.index)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func writeStatus(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}
