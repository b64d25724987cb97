// Package procstat reads what Linux's /proc says about a process: its
// resident set, as top shows it, its stat fields and its children. The
// wssd binary's stats line, the bench, the soak and the tests of -procs
// all read them here.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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

// StatFields returns the fields of /proc/PID/stat after the command name
// (the state first, then the parent's pid, ...: proc(5) numbers them from
// 3), or nil when the process is gone. The command name may hold spaces
// and parentheses; the fields after its last ')' are plain.
func StatFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// Children returns the processes whose parent is ppid, in increasing
// order.
func Children(ppid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := StatFields(pid); len(f) > 1 {
			if p, _ := strconv.Atoi(f[1]); p == ppid {
				out = append(out, pid)
			}
		}
	}
	slices.Sort(out)
	return out
}
