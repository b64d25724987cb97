package supervisor

import "syscall"

// sysProcAttr puts a worker in its own process group and has the kernel
// kill it when the supervisor's spawning thread, and so the supervisor,
// dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
