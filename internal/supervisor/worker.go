package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// The environment of a worker, set by the supervisor.
const (
	envIndex  = "WSSD_WORKER"        // the worker's index, from 0
	envParent = "WSSD_WORKER_PARENT" // the supervisor's pid
	envListen = "WSSD_WORKER_LISTEN" // the address the first worker reported, or ""
)

// controlFD is the worker's end of the pipe its Report goes through: the
// first of exec.Cmd.ExtraFiles.
const controlFD = 3

// errOrphan is returned by CurrentWorker in a process that has the
// environment of a worker but not the supervisor that set it for a parent:
// a worker whose supervisor died as it started, or a stray variable.
var errOrphan = errors.New("supervisor: " + envIndex + " is set but the parent process is not the supervisor that set it")

// Worker is what a worker process knows of its supervisor.
type Worker struct {
	// Index tells the workers apart: 0 to Config.Procs-1. A worker started
	// again in the place of a dead one has its index.
	Index int
	// Listen is the address the first worker reported, which this one
	// must bind (with SO_REUSEPORT); "" for the first worker's first start.
	Listen string
}

// Report is what a worker tells its supervisor once it serves.
type Report struct {
	// Listen is the address the worker bound, its port chosen.
	Listen string `json:"listen"`
	// Metrics is the host:port of the worker's operations endpoint
	// (/metrics, /readyz), on loopback; "" if it serves none.
	Metrics string `json:"metrics,omitempty"`
}

// CurrentWorker returns the worker this process is, or nil if it was not
// started by a Supervisor. It fails in a process whose supervisor is no
// longer its parent.
func CurrentWorker() (*Worker, error) {
	v, ok := os.LookupEnv(envIndex)
	if !ok {
		return nil, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return nil, fmt.Errorf("supervisor: %s=%q is not a worker index", envIndex, v)
	}
	if os.Getenv(envParent) != strconv.Itoa(os.Getppid()) {
		return nil, errOrphan
	}
	return &Worker{Index: i, Listen: os.Getenv(envListen)}, nil
}

// Serving tells the supervisor that the worker serves r.Listen. Call it
// once, when the worker accepts connections: the supervisor starts the
// other workers after the first one's report, and counts a worker ready
// only from it.
func (w *Worker) Serving(r Report) error {
	f := os.NewFile(controlFD, "supervisor")
	if f == nil {
		return errors.New("supervisor: no control pipe")
	}
	defer f.Close()
	b, _ := json.Marshal(r)
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("supervisor: report: %w", err)
	}
	return nil
}

// readReport reads a worker's report from its end of the control pipe.
func readReport(r io.Reader) (Report, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		return Report{}, err
	}
	var rep Report
	err = json.Unmarshal(line, &rep)
	return rep, err
}
