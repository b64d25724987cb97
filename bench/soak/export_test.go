package soak

var (
	ParseStatsLine = parseStatsLine
	AppendPayload  = appendPayload
)
