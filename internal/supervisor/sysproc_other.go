//go:build !linux

package supervisor

import "syscall"

// sysProcAttr: without Linux's parent death signal, a worker whose
// supervisor is killed with SIGKILL keeps running until it is stopped.
func sysProcAttr() *syscall.SysProcAttr { return nil }
