package procstat_test

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wssd/wssd/internal/procstat"
)

func TestParseVmRSS(t *testing.T) {
	cases := []struct {
		name    string
		status  string
		want    int64
		wantErr string
	}{
		{name: "status file", status: "Name:\twssd\nVmPeak:\t 1300000 kB\nVmHWM:\t  200000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t  120000 kB\n", want: 123456 << 10},
		{name: "no VmRSS (a kernel thread)", status: "Name:\tkthreadd\nState:\tS (sleeping)\n", wantErr: "no VmRSS"},
		{name: "VmHWM is not VmRSS", status: "VmHWM:\t 5 kB\n", wantErr: "no VmRSS"},
		{name: "other unit", status: "VmRSS:\t 5 MB\n", wantErr: "not kB"},
		{name: "not a number", status: "VmRSS:\t lots kB\n", wantErr: "VmRSS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := procstat.ParseVmRSS([]byte(tc.status))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestRSS(t *testing.T) {
	self, err := procstat.RSS(0)
	if err != nil || self <= 0 {
		t.Fatalf("RSS(0) = %d, %v", self, err)
	}
	byPid, err := procstat.RSS(os.Getpid())
	if err != nil || byPid <= 0 {
		t.Fatalf("RSS(own pid) = %d, %v", byPid, err)
	}
	if _, err := procstat.RSS(1 << 30); err == nil {
		t.Fatal("RSS of a process that does not exist returned no error")
	}
}

// TestStatFieldsAndChildren: this process's stat has its parent where
// proc(5) puts it, a child of the test is listed among its children and
// the child's own child only under that child, and a process that is gone
// has no fields.
func TestStatFieldsAndChildren(t *testing.T) {
	if f := procstat.StatFields(os.Getpid()); len(f) < 2 || f[1] != strconv.Itoa(os.Getppid()) {
		t.Fatalf("own stat fields %v: want the parent %d second", f, os.Getppid())
	}
	sh := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	var grand []int
	t.Cleanup(func() {
		for _, p := range grand {
			if q, err := os.FindProcess(p); err == nil {
				_ = q.Kill()
			}
		}
		_ = sh.Process.Kill()
		_ = sh.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); len(grand) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		grand = procstat.Children(sh.Process.Pid)
	}
	if len(grand) != 1 {
		t.Fatalf("sh's children: %v, want its sleep", grand)
	}
	mine := procstat.Children(os.Getpid())
	if !slices.Contains(mine, sh.Process.Pid) || slices.Contains(mine, grand[0]) {
		t.Errorf("the test's children %v: want sh %d and not its sleep %d", mine, sh.Process.Pid, grand[0])
	}
	if !slices.IsSorted(mine) {
		t.Errorf("children %v not in order", mine)
	}
	if f := procstat.StatFields(-1); f != nil {
		t.Errorf("a process that does not exist has fields %v", f)
	}
}
