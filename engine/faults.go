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
	opAccept                 // an accept, counted over every listener
	numFaultOps
)

// faults makes chosen socket operations fail, for the tests: operations of
// a kind are counted over the whole server from 1, and those a rule names
// fail with its errno. A Server without faults (the only kind outside
// tests) pays one atomic load per operation.
//
// A failed write does what gnet does when write(2) fails: it closes the
// connection at once, inside the write, calling OnClose before the write
// returns. A failed read closes the connection with the error instead of
// handing the bytes over, as gnet does when read(2) fails. A failed accept
// waits until a connection is pending and leaves it in the kernel's queue,
// as a real failure does.
type faults struct {
	mu    sync.Mutex
	count [numFaultOps]int
	rules [numFaultOps][]faultRule
}

// faultRule fails the operations numbered from to to (to 0: every one from
// on) with errno.
type faultRule struct {
	from, to int
	errno    syscall.Errno
}

// inject makes the operations of kind op numbered from to to fail with
// errno; to 0 means every one from on.
func (f *faults) inject(op faultOp, from, to int, errno syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules[op] = append(f.rules[op], faultRule{from: from, to: to, errno: errno})
}

// fail counts one operation of kind op and returns the error it must fail
// with, or nil.
func (f *faults) fail(op faultOp) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count[op]++
	n := f.count[op]
	for _, r := range f.rules[op] {
		if n >= r.from && (r.to == 0 || n <= r.to) {
			return r.errno
		}
	}
	return nil
}
