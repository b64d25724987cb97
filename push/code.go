package push

import (
	"strconv"

	"github.com/wssd/wssd/wsproto"
)

// Code is a Pusher protocol error code: the close code of a connection the
// server ends, and the code of a pusher:error event. The range tells a
// client what to do: 4000–4099 do not reconnect, 4100–4199 reconnect after
// backing off, 4200–4299 reconnect at once, 4300–4399 other errors.
type Code uint16

// The codes of the Pusher Channels protocol.
const (
	CodeSSLOnly                Code = 4000 // the app accepts only wss
	CodeAppNotFound            Code = 4001 // no app has the key in the URL
	CodeAppDisabled            Code = 4003
	CodeOverConnectionQuota    Code = 4004
	CodePathNotFound           Code = 4005 // the URL is not /app/{key}
	CodeInvalidVersion         Code = 4006 // the version parameter does not parse
	CodeUnsupportedProtocol    Code = 4007 // protocol older or newer than spoken
	CodeNoProtocol             Code = 4008 // no protocol parameter
	CodeUnauthorized           Code = 4009 // the server ended the user's connections
	CodeOverCapacity           Code = 4100 // the client reads too slowly; back off
	CodeReconnect              Code = 4200 // reconnect at once (restart)
	CodePongTimeout            Code = 4201
	CodeInactive               Code = 4202
	CodeClientEventRateLimited Code = 4301 // client events sent too fast
)

var codeText = map[Code]string{
	CodeSSLOnly:                "Application only accepts SSL connections, reconnect using wss://",
	CodeAppNotFound:            "Application does not exist",
	CodeAppDisabled:            "Application disabled",
	CodeOverConnectionQuota:    "Application is over connection quota",
	CodePathNotFound:           "Path not found",
	CodeInvalidVersion:         "Invalid version string format",
	CodeUnsupportedProtocol:    "Unsupported protocol version",
	CodeNoProtocol:             "No protocol version supplied",
	CodeUnauthorized:           "Connection is unauthorized",
	CodeOverCapacity:           "Over capacity",
	CodeReconnect:              "Generic reconnect immediately",
	CodePongTimeout:            "Pong reply not received",
	CodeInactive:               "Closed after inactivity",
	CodeClientEventRateLimited: "Client event rejected due to rate limit",
}

// String returns the protocol's description of the code.
func (c Code) String() string {
	if s, ok := codeText[c]; ok {
		return s
	}
	return "code " + strconv.Itoa(int(c))
}

// closeCode is c as a WebSocket close code.
func (c Code) closeCode() wsproto.CloseCode { return wsproto.CloseCode(c) }
