#!/usr/bin/python3
"""Interop client for wssd's tests, on Python's websockets library.

Usage: /usr/bin/python3 client.py [--timeout SECONDS] [--cafile PEM] BASE_URL [CHECK ...]

Runs each check (all of them by default) on its own connection to
BASE_URL/CHECK against wssd's echo handler, which sends every message back
and closes with 1000 "bye" on the text "close-me". A wss:// BASE_URL is
verified against the CA certificates in --cafile (default: the system's).
Prints one JSON line:

    {"client": "websockets", "version": "10.4", "results": [
        {"name": "echo-text", "ok": true, "error": ""}, ...]}

and exits 0 if every check passed, 1 if one failed (each failure is also
written to stderr), 2 on a usage error. The checks and payloads must match
interop/checks_test.go.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

import websockets
from websockets.exceptions import ConnectionClosed

ECHO_SIZES = [0, 1, 125, 126, 64 << 10, (1 << 20) - 16]
FRAGMENTS = ["frag", "", "men", "t" * 5000, "ed"]
CLOSE_ME = "close-me"
BYE_CODE, BYE_REASON = 1000, "bye"
CHECK_TIMEOUT = 20.0  # seconds for one check, connection included


class CheckFailed(Exception):
    """A check saw the server do something else than expected."""


def payload(text, n):
    """n bytes of the pattern checks_test.go's payload() makes."""
    if text:
        pattern = "".join(chr(ord("a") + i) for i in range(23))
        return (pattern * (n // len(pattern) + 1))[:n]
    pattern = bytes(i * 7 % 251 for i in range(251))
    return (pattern * (n // len(pattern) + 1))[:n]


def describe(got, want):
    if type(got) is not type(want):
        return f"got a {type(got).__name__} message, want {type(want).__name__}"
    if len(got) != len(want):
        return f"got {len(got)} bytes, want {len(want)}"
    i = next(i for i in range(len(got)) if got[i] != want[i])
    return f"first difference at byte {i}"


async def expect_echo(ws, want):
    got = await ws.recv()
    if type(got) is not type(want) or got != want:
        raise CheckFailed(f"echo of a {len(want)}-byte message: {describe(got, want)}")


async def close_done(ws, code=1000):
    """Closes from the client and checks the server echoes the code."""
    await ws.close(code=code, reason="done")
    if ws.close_code != code:
        raise CheckFailed(f"client closed with {code}, server answered {ws.close_code}")


async def check_echo(ws, text):
    for n in ECHO_SIZES:
        msg = payload(text, n)
        await ws.send(msg)
        await expect_echo(ws, msg)
    await close_done(ws)


async def check_fragmented(ws, text):
    parts = FRAGMENTS if text else [f.encode() for f in FRAGMENTS]
    # send() puts each item of an iterable in its own frame, then an empty
    # final frame.
    await ws.send(parts)
    await expect_echo(ws, "".join(parts) if text else b"".join(parts))
    await close_done(ws)


async def check_ping(ws):
    pong = await ws.ping(b"hello")
    await asyncio.wait_for(pong, 5)  # resolved by the pong carrying b"hello"
    await ws.send("after-ping")
    await expect_echo(ws, "after-ping")
    await close_done(ws)


async def check_server_close(ws):
    await ws.send(CLOSE_ME)
    try:
        msg = await ws.recv()
        raise CheckFailed(f"got a message ({msg!r:.40}) instead of the server's close")
    except ConnectionClosed as e:
        if e.rcvd is None or (e.rcvd.code, e.rcvd.reason) != (BYE_CODE, BYE_REASON):
            raise CheckFailed(f"server closed with {e.rcvd}, want {BYE_CODE} {BYE_REASON!r}")
    await ws.wait_closed()


CHECKS = {
    "echo-text": lambda ws: check_echo(ws, True),
    "echo-binary": lambda ws: check_echo(ws, False),
    "fragmented-text": lambda ws: check_fragmented(ws, True),
    "fragmented-binary": lambda ws: check_fragmented(ws, False),
    "ping": check_ping,
    "client-close-1000": lambda ws: close_done(ws, 1000),
    "client-close-4000": lambda ws: close_done(ws, 4000),
    "server-close": check_server_close,
}


async def run_check(base, name, tls):
    async def body():
        async with websockets.connect(
            f"{base}/{name}",
            ssl=tls,
            max_size=2 << 20,
            ping_interval=None,  # no pings of its own: the ping check sends one
            open_timeout=10,
            close_timeout=5,
        ) as ws:
            await CHECKS[name](ws)

    try:
        await asyncio.wait_for(body(), CHECK_TIMEOUT)
        return ""
    except asyncio.TimeoutError:
        return f"timed out after {CHECK_TIMEOUT:g} s"
    except Exception as e:  # every failure is reported, none ends the run
        return f"{type(e).__name__}: {e}"


async def run(base, names, tls):
    results = []
    for name in names:
        err = await run_check(base, name, tls)
        results.append({"name": name, "ok": not err, "error": err})
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=120, help="seconds for the whole run")
    ap.add_argument("--cafile", help="PEM file of the CA certificates a wss:// server is verified against")
    ap.add_argument("url", help="base URL; each check connects to URL/CHECK")
    ap.add_argument("checks", nargs="*", help=f"checks to run (default all: {', '.join(CHECKS)})")
    args = ap.parse_args()
    names = args.checks or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        ap.error(f"unknown checks: {', '.join(unknown)}")
    tls = None  # ws://, or the system's CA certificates for wss://
    if args.url.startswith("wss://") and args.cafile:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
        tls.load_verify_locations(cafile=args.cafile)

    # A hard deadline: cancelling asyncio tasks that wait on a stuck peer
    # can itself wait on that peer.
    def timed_out(signum, frame):
        print(f"client.py: FAIL: the run took more than {args.timeout:g} s", file=sys.stderr, flush=True)
        os._exit(1)

    signal.signal(signal.SIGALRM, timed_out)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    results = asyncio.run(run(args.url.rstrip("/"), names, tls))
    signal.setitimer(signal.ITIMER_REAL, 0)
    print(json.dumps({"client": "websockets", "version": websockets.__version__, "results": results}))
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        print(f"client.py: FAIL: {r['name']}: {r['error']}", file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
