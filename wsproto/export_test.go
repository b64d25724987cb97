package wsproto

// UTF8Valid runs the incremental validator over chunks, for tests.
func UTF8Valid(chunks ...[]byte) (valid, complete bool) {
	var s utf8State
	for _, c := range chunks {
		if !s.valid(c) {
			return false, false
		}
	}
	return true, s.complete()
}
