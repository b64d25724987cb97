package wsproto

import "strconv"

// Opcode is a frame's opcode (RFC 6455, section 5.2).
type Opcode byte

// Opcodes defined by RFC 6455. The others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong or a
// reserved control opcode).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is one of the opcodes RFC 6455 reserves for
// future use (0x3-0x7 and 0xB-0xF).
func (op Opcode) IsReserved() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns the opcode's name, for logs.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved(0x" + strconv.FormatUint(uint64(op), 16) + ")"
}

// CloseCode is the status code carried by a close frame (RFC 6455, section 7.4).
type CloseCode uint16

// Close codes defined by RFC 6455 and the IANA registry.
const (
	CloseNormal            CloseCode = 1000
	CloseGoingAway         CloseCode = 1001
	CloseProtocolError     CloseCode = 1002
	CloseUnsupportedData   CloseCode = 1003
	CloseNoStatus          CloseCode = 1005 // never sent: no code was present
	CloseAbnormal          CloseCode = 1006 // never sent: the TCP connection dropped
	CloseInvalidPayload    CloseCode = 1007
	ClosePolicyViolation   CloseCode = 1008
	CloseMessageTooBig     CloseCode = 1009
	CloseMandatoryExt      CloseCode = 1010
	CloseInternalError     CloseCode = 1011
	CloseServiceRestart    CloseCode = 1012
	CloseTryAgainLater     CloseCode = 1013
	CloseBadGateway        CloseCode = 1014
	CloseTLSHandshakeError CloseCode = 1015 // never sent
)

// ValidOnWire reports whether c may appear in a close frame. Codes below
// 1000, 1004-1006, 1015, unassigned codes in 1016-2999 and codes from 5000 up
// may not; 3000-4999 are for libraries, frameworks and applications.
func (c CloseCode) ValidOnWire() bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// String returns the code and, for registered codes, its name.
func (c CloseCode) String() string {
	name := ""
	switch c {
	case CloseNormal:
		name = "normal closure"
	case CloseGoingAway:
		name = "going away"
	case CloseProtocolError:
		name = "protocol error"
	case CloseUnsupportedData:
		name = "unsupported data"
	case CloseNoStatus:
		name = "no status"
	case CloseAbnormal:
		name = "abnormal closure"
	case CloseInvalidPayload:
		name = "invalid payload data"
	case ClosePolicyViolation:
		name = "policy violation"
	case CloseMessageTooBig:
		name = "message too big"
	case CloseMandatoryExt:
		name = "mandatory extension"
	case CloseInternalError:
		name = "internal error"
	case CloseServiceRestart:
		name = "service restart"
	case CloseTryAgainLater:
		name = "try again later"
	case CloseBadGateway:
		name = "bad gateway"
	case CloseTLSHandshakeError:
		name = "TLS handshake error"
	}
	s := strconv.Itoa(int(c))
	if name != "" {
		s += " (" + name + ")"
	}
	return s
}
