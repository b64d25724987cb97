package engine

import (
	"sync"
	"syscall"
)

// faultOp is a socket operation whose failure tests can inject.
type faultOp uint8

const (
	opWrite   faultOp = iota // a write of a response or frames (before TLS, for wss)
	opRead                   // a read of gnet's on an upgraded connection, seen as the data it delivers
	opExecute                // a task handed to an event loop, from Send on another goroutine
	numFaultOps
)

// faults makes chosen socket operations fail, for the tests (accepts have
// their own seam, Config.acceptFault, which waits for a client to refuse): the n-th
// operation of a kind, counted over the whole server from 1, fails with the
// errno given. A Server without faults (the only kind outside tests) pays
// one nil check per operation.
//
// A failed write does what gnet does when write(2) fails: it closes the
// connection at once, inside the write, calling OnClose before the write
// returns. A failed read closes the connection with the error instead of
// handing the bytes over, as gnet does when read(2) fails.
type faults struct {
	mu    sync.Mutex
	count [numFaultOps]int
	rules [numFaultOps]map[int]syscall.Errno
}

// inject makes the n-th operation of kind op fail with errno.
func (f *faults) inject(op faultOp, n int, errno syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules[op] == nil {
		f.rules[op] = make(map[int]syscall.Errno)
	}
	f.rules[op][n] = errno
}

// fail counts one operation of kind op and returns the error it must fail
// with, or nil.
func (f *faults) fail(op faultOp) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count[op]++
	if errno, ok := f.rules[op][f.count[op]]; ok {
		return errno
	}
	return nil
}
