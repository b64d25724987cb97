// Package procstat reads what Linux's /proc says about a process: its
// resident set, as top shows it. The wssd binary's stats line, the bench
// and the soak all read it here.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrNoVmRSS is returned by ParseVmRSS for a status file without a VmRSS
// line (a kernel thread, a process that is exiting).
var ErrNoVmRSS = errors.New("procstat: no VmRSS line")

// ParseVmRSS returns the VmRSS of a /proc/PID/status file, in bytes.
func ParseVmRSS(status []byte) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		num, unit, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
		if string(bytes.TrimSpace(unit)) != "kB" {
			return 0, fmt.Errorf("procstat: VmRSS in %q, not kB", unit)
		}
		kb, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, ErrNoVmRSS
}

// RSS returns the resident set of process pid in bytes, or of the calling
// process when pid is 0.
func RSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}
