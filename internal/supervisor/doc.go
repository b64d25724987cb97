// Package supervisor runs a program as several worker processes that share
// one listening port (SO_REUSEPORT), the way Workerman's count does: it
// restarts a worker that dies, forwards signals to all of them, and serves
// one operations endpoint for all.
//
// # Processes
//
// [Start] re-executes the program ([Config.Path], [Config.Args]) once per
// worker, telling each its index in the environment ([CurrentWorker] reads
// it back). The first worker starts alone: it binds the address (a port 0
// becomes a real one) and reports it, and only then are the others started,
// told to bind the address it reported. A first worker that exits before it
// reports makes Start fail: the same flags would fail in every worker.
//
// A worker that dies later, by exit or by signal, is logged with the cause
// and started again after a delay that doubles from [MinBackoff] up to
// [MaxBackoff], and starts over once a worker stayed up [StableAfter].
//
// On Linux each worker gets SIGKILL when the supervisor dies (the parent
// death signal), so that no worker outlives a supervisor killed with
// SIGKILL; a worker started just as its supervisor died notices it
// ([CurrentWorker] fails). Workers run in their own process group: a
// Ctrl-C in a terminal reaches the supervisor only, which stops them in
// order ([Supervisor.Shutdown]).
//
// # Operations endpoint
//
// Each worker serves its metrics on a loopback port of its own and reports
// it ([Worker.Serving]). [Supervisor.Handler] serves /metrics with every
// worker's series, each with a worker label ("0", "1", ...), beside the
// supervisor's own (wssd_workers_running, wssd_worker_restarts_total);
// /healthz answers 200 while the supervisor runs; /readyz answers 200 when
// every worker is running and its own /readyz answers 200.
package supervisor
