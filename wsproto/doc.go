// Package wsproto is wssd's RFC 6455 codec: bytes in, bytes out, no I/O.
//
// # Frames
//
// A [Parser] reads client frames in place from the bytes a connection has
// received: it unmasks payloads where they lie, validates UTF-8 incrementally
// (failing as soon as an invalid sequence is seen, also across fragment
// boundaries), and copies a payload only when a message really spans several
// frames. [AppendFrame] and [AppendClose] build server frames, header and
// payload, into one caller-supplied buffer.
//
// # Compression
//
// [NegotiateDeflate] reads a client's permessage-deflate offers (RFC 7692)
// and answers one under a [DeflatePolicy]. A Parser with an [Inflater]
// accepts RSV1 on the first frame of a data message and delivers the
// message inflated, within its size limit; a [Deflater] compresses what a
// server sends, and [Compress] compresses a message once for many
// connections. DEFLATE itself is klauspost/compress/flate.
//
// # Errors
//
// Every protocol violation is a sentinel error of this package; [CloseCodeOf]
// maps each to the RFC 6455 close code the endpoint must send, from one table.
//
// # Opening handshake
//
// [RequestHeadLength] finds the end of a buffered HTTP request head and
// [Handshake] validates it (RFC 6455 section 4.2.1, with RFC 7230's header
// lists: Connection and Upgrade may list other tokens, over several lines;
// Host, Sec-WebSocket-Key and -Version appear once, the key is base64 of 16
// bytes), asks the caller to accept or reject it, and appends the HTTP
// response. Bytes after the head (a client
// may send its first frame together with the request) are left to the caller.
package wsproto
