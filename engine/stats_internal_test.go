package engine

import "testing"

// BenchmarkEchoCounting measures what counting adds to one echo of a
// 512-byte message on a loop: bytes read, the message delivered, the echo
// queued, bytes written. Beside BenchmarkEcho's round trip (microseconds),
// it says what Stats costs the hot path. In parallel each goroutine counts
// on a loop of its own, as the event loops do: no cache line is shared.
func BenchmarkEchoCounting(b *testing.B) {
	echo := func(c *Conn) {
		c.countIn(518)
		c.loop.stats.msgsIn.Add(1)
		c.countSent(false, nil)
		c.loop.stats.bytesOut.Add(516)
	}
	b.Run("one loop", func(b *testing.B) {
		c := &Conn{loop: &loop{}}
		b.ReportAllocs()
		for b.Loop() {
			echo(c)
		}
	})
	b.Run("a loop per goroutine", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := &Conn{loop: &loop{}}
			for pb.Next() {
				echo(c)
			}
		})
	})
}
