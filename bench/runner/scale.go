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
	first, err := r.startServer(ctx, "wssd", tr, "127.0.0.1:0", true, 25*time.Second, false, env...)
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
		s, err := r.startServer(ctx, "wssd", tr, first.ready.Addr, true, 25*time.Second, false, env...)
		if err != nil {
			return err
		}
		srvs = append(srvs, s)
	}
	time.Sleep(300 * time.Millisecond)
	var base int64
	pids := make([]int, len(srvs))
	for i, s := range srvs {
		base += procRSS(s.pid())
		pids[i] = s.pid()
	}
	row := &ScaleRow{Transport: tr, Target: target, Servers: len(srvs)}
	r.res.Scale = row

	// Opening stops at the deadline or when memory runs short.
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
	sp := clientSpec{addr: first.ready.Addr, tls: true, proto: load.WebSocket, conc: 8 * ((target + r.cfg.ConnsPerClient - 1) / r.cfg.ConnsPerClient), env: env}
	clients, open, err := r.openClients(octx, sp, target)
	row.StoppedBy = "target reached"
	if octx.Err() == context.DeadlineExceeded {
		row.StoppedBy = fmt.Sprintf("time: %s", r.cfg.ScaleTimeout)
	}
	cancel()
	memStop.Lock()
	if memReason != "" {
		row.StoppedBy = memReason
	}
	memStop.Unlock()
	if err != nil {
		return err
	}
	defer closeClients(clients)
	row.Clients = len(clients)
	row.Failed = open.Failed
	row.SetupSeconds = open.Seconds
	opened := time.Now()
	sample := func() RSSSample {
		x := RSSSample{AfterSeconds: time.Since(opened).Seconds()}
		for _, s := range srvs {
			x.RSS += procRSS(s.pid())
		}
		return x
	}
	time.Sleep(3 * time.Second)
	settled := sample()
	m := meterCPU(pids...)
	time.Sleep(10 * time.Second)
	row.IdleCPU = m.cores()
	end := sample()
	row.RSS = end.RSS
	for _, s := range srvs {
		if st, err := s.stats(); err == nil {
			row.Conns += st.Conns
			row.Goroutines += st.Goroutines
		}
	}
	if row.Conns > 0 {
		for _, x := range []RSSSample{settled, end} {
			x.PerConn = float64(x.RSS) / float64(row.Conns)
			row.RSSSamples = append(row.RSSSamples, x)
		}
	}
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
