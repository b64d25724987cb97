package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wssd/wssd/bench/load"
)

// scale opens as many wss connections as the machine holds, up to the
// target, on several wssd processes sharing one port, and stops opening
// when time is up or memory runs short.
func (r *run) scale(ctx context.Context) error {
	const tr = "wss"
	target := r.cfg.ScaleTarget
	nServers := max(1, (target+r.cfg.ConnsPerServer-1)/r.cfg.ConnsPerServer)
	var env []string
	if r.cfg.ScaleGOMAXPROCS != "" {
		env = []string{"GOMAXPROCS=" + r.cfg.ScaleGOMAXPROCS}
	}
	first, err := r.startServer(ctx, "wssd", tr, "127.0.0.1:0", true, scalePing, false, env...)
	if err != nil {
		return err
	}
	srvs := []*server{first}
	defer func() {
		var wg sync.WaitGroup
		for _, s := range srvs {
			wg.Go(s.stop)
		}
		wg.Wait()
	}()
	for range nServers - 1 {
		s, err := r.startServer(ctx, "wssd", tr, first.ready.Addr, true, scalePing, false, env...)
		if err != nil {
			return err
		}
		srvs = append(srvs, s)
	}
	time.Sleep(300 * time.Millisecond)
	var base int64 // the servers' RSS before any connection
	pids := make([]int, len(srvs))
	for i, s := range srvs {
		base += procRSS(s.pid())
		pids[i] = s.pid()
	}
	row := &ScaleRow{Transport: tr, Target: target, Servers: len(srvs)}
	r.res.Scale = row
	sp := clientSpec{addr: first.ready.Addr, tls: true, proto: load.WebSocket, conc: r.scaleConcurrency(target), env: env}
	clients, open, stoppedBy, err := r.openAtScale(ctx, sp, target)
	row.StoppedBy = stoppedBy
	if err != nil {
		return err
	}
	defer closeClients(clients)
	row.Clients = len(clients)
	row.Failed = open.Failed
	row.SetupSeconds = open.Seconds
	rss := func() int64 {
		var n int64
		for _, s := range srvs {
			n += procRSS(s.pid())
		}
		return n
	}
	settled, end := holdScale(ctx, time.Now(), rss, &row.IdleCPU, pids...)
	row.RSS = end.RSS
	for _, s := range srvs {
		if st, err := s.stats(); err == nil {
			row.Conns += st.Conns
			row.Goroutines += st.Goroutines
		}
	}
	row.RSSSamples = perConn(row.Conns, settled, end)
	for _, c := range clients {
		row.ClientRSS += procRSS(c.cmd.Process.Pid)
	}
	row.MemAvailable = meminfo("MemAvailable") << 10
	if row.Conns > 0 {
		row.RSSPerConn = float64(row.RSS-base) / float64(row.Conns)
	}
	r.logf("  %d conns on %d servers in %.0fs (%s), RSS per conn %s at +%.0fs, %s at +%.0fs, %d failed", row.Conns, row.Servers, row.SetupSeconds,
		row.StoppedBy, perConnKB(settled.RSS, row.Conns), settled.AfterSeconds, perConnKB(end.RSS, row.Conns), end.AfterSeconds, row.Failed)
	return nil
}

// scalePing is the ping interval of the scale scenarios' servers: what a
// server holding hundreds of thousands of connections would use.
const scalePing = 25 * time.Second

// scaleConcurrency is how many connections the scale scenarios' loadgens
// open at once, all together: 8 per loadgen.
func (r *run) scaleConcurrency(target int) int {
	return 8 * ((target + r.cfg.ConnsPerClient - 1) / r.cfg.ConnsPerClient)
}

// openAtScale opens target connections as openClients does, and stops
// opening when Config.ScaleTimeout is up or the machine's available memory
// falls below Config.ScaleMinFree; stoppedBy says which ended it.
func (r *run) openAtScale(ctx context.Context, sp clientSpec, target int) (clients []*client, open load.Result, stoppedBy string, err error) {
	octx, cancel := context.WithTimeout(ctx, r.cfg.ScaleTimeout)
	defer cancel()
	var memStop sync.Mutex // the memory watcher's verdict
	memReason := ""
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-octx.Done():
				return
			case <-t.C:
				if free := meminfo("MemAvailable") << 10; free > 0 && free < r.cfg.ScaleMinFree {
					memStop.Lock()
					memReason = fmt.Sprintf("memory: %d MiB available", free>>20)
					memStop.Unlock()
					cancel()
					return
				}
			}
		}
	}()
	clients, open, err = r.openClients(octx, sp, target)
	stoppedBy = "target reached"
	if octx.Err() == context.DeadlineExceeded {
		stoppedBy = fmt.Sprintf("time: %s", r.cfg.ScaleTimeout)
	}
	cancel()
	memStop.Lock()
	if memReason != "" {
		stoppedBy = memReason
	}
	memStop.Unlock()
	return clients, open, stoppedBy, err
}

// holdScale reads rss 3 s after opened (settled) and 13 s after (end),
// and the CPU of pids in between, in cores, into idleCPU. The samples'
// PerConn is left for the caller, who knows the connections.
func holdScale(ctx context.Context, opened time.Time, rss func() int64, idleCPU *float64, pids ...int) (settled, end RSSSample) {
	sample := func() RSSSample { return RSSSample{AfterSeconds: time.Since(opened).Seconds(), RSS: rss()} }
	sleep(ctx, time.Until(opened.Add(3*time.Second)))
	settled = sample()
	m := meterCPU(pids...)
	sleep(ctx, time.Until(opened.Add(13*time.Second)))
	*idleCPU = m.cores()
	return settled, sample()
}
