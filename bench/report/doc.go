// Package report turns a run's [runner.Results] into latest.md (one table
// per scenario, every server of the run side by side, with ratios to wssd
// and to the ceilings), latest.json and SVG charts.
package report
