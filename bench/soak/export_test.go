package soak

var (
	ParseStatsLine = parseStatsLine
	ParseVmRSS     = parseVmRSS
	AppendPayload  = appendPayload
)
