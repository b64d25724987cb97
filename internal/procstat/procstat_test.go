package procstat_test

import (
	"os"
	"strings"
	"testing"

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
