package wsproto

import (
	"errors"
	"strconv"
)

// Protocol violations found by [Parser.Parse] and [ParseClose]. Each maps to
// the close code in [CloseCodeOf]'s table.
var (
	// ErrReservedBits: RSV1-3 set while no extension is negotiated.
	ErrReservedBits = errors.New("wsproto: reserved bits set without a negotiated extension")
	// ErrReservedOpcode: an opcode RFC 6455 reserves.
	ErrReservedOpcode = errors.New("wsproto: reserved opcode")
	// ErrUnmasked: a client frame without a mask.
	ErrUnmasked = errors.New("wsproto: client frame is not masked")
	// ErrMasked: a server frame with a mask (read by a client-side Parser).
	ErrMasked = errors.New("wsproto: server frame is masked")
	// ErrControlTooLong: a control frame with more than 125 bytes of payload.
	ErrControlTooLong = errors.New("wsproto: control frame payload longer than 125 bytes")
	// ErrFragmentedControl: a control frame without FIN.
	ErrFragmentedControl = errors.New("wsproto: fragmented control frame")
	// ErrUnexpectedContinuation: a continuation frame with no message to continue.
	ErrUnexpectedContinuation = errors.New("wsproto: continuation frame without a message in progress")
	// ErrExpectedContinuation: a new text or binary frame while a fragmented message is unfinished.
	ErrExpectedContinuation = errors.New("wsproto: new data frame inside a fragmented message")
	// ErrLengthEncoding: a payload length not in its shortest form, or with the top bit set.
	ErrLengthEncoding = errors.New("wsproto: invalid payload length encoding")
	// ErrInvalidUTF8: a text message or close reason that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("wsproto: invalid UTF-8 in text message or close reason")
	// ErrCloseCode: a close frame with a code that may not appear on the wire.
	ErrCloseCode = errors.New("wsproto: invalid close code")
	// ErrClosePayload: a close frame with a one-byte payload.
	ErrClosePayload = errors.New("wsproto: close frame payload of one byte")
	// ErrMessageTooBig: a message larger than the parser's limit.
	ErrMessageTooBig = errors.New("wsproto: message exceeds the size limit")
)

// closeCodes is the single table from protocol violations to close codes.
var closeCodes = [...]struct {
	err  error
	code CloseCode
}{
	{ErrReservedBits, CloseProtocolError},
	{ErrReservedOpcode, CloseProtocolError},
	{ErrUnmasked, CloseProtocolError},
	{ErrMasked, CloseProtocolError},
	{ErrControlTooLong, CloseProtocolError},
	{ErrFragmentedControl, CloseProtocolError},
	{ErrUnexpectedContinuation, CloseProtocolError},
	{ErrExpectedContinuation, CloseProtocolError},
	{ErrLengthEncoding, CloseProtocolError},
	{ErrCloseCode, CloseProtocolError},
	{ErrClosePayload, CloseProtocolError},
	{ErrInvalidUTF8, CloseInvalidPayload},
	{ErrInflate, CloseInvalidPayload},
	{ErrMessageTooBig, CloseMessageTooBig},
}

// CloseCodeOf returns the close code an endpoint sends when it fails the
// connection because of err. Errors that are not protocol violations of this
// package map to [CloseInternalError].
func CloseCodeOf(err error) CloseCode {
	for _, e := range closeCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return CloseInternalError
}

// CloseError is a closing handshake's status: the code and reason one side
// sent. Code is [CloseNoStatus] when the close frame carried no code.
type CloseError struct {
	Code   CloseCode
	Reason string
}

func (e *CloseError) Error() string {
	s := "wsproto: closed with " + e.Code.String()
	if e.Reason != "" {
		s += ": " + strconv.Quote(e.Reason)
	}
	return s
}
