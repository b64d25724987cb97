package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wssd/wssd/engine"
	"github.com/wssd/wssd/internal/metrics"
)

// The push server registers its own series on the registry the binary
// serves: one scrape of /metrics returns them beside the engine's.
func ExampleRegistry_Registerer() {
	srv, _ := engine.New(engine.Config{}, engine.NopHandler{})
	reg := metrics.New(srv)

	channels := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "channels", // exported as wssd_channels
		Help: "Channels with at least one subscriber.",
	})
	reg.Registerer().MustRegister(channels)
	channels.Set(3)

	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "wssd_channels") || strings.HasPrefix(line, "wssd_connections_open") {
			fmt.Println(line)
		}
	}
	// Output: wssd_channels 3
	// wssd_connections_open 0
}
