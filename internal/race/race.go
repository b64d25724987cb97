//go:build race

// Package race reports whether the race detector is on. Allocation budgets
// do not hold under it: sync.Pool drops items at random in race mode.
package race

// Enabled is true in binaries built with -race.
const Enabled = true
