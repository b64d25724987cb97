#!/usr/bin/python3
"""permessage-deflate client for wssd's tests, on Python's websockets library.

Usage: /usr/bin/python3 deflate.py [--cafile PEM] [--client-no-context-takeover]
           [--server-no-context-takeover] [--server-max-window-bits N]
           --plan FILE URL

Connects to URL with compression="deflate" (with the flags, an explicit
ClientPerMessageDeflateFactory) and follows the plan in FILE, which
interop/deflate_test.go writes:

    {"messages": [MESSAGE, ...], "broadcast": MESSAGE or null, "after": [MESSAGE, ...] or null}
    MESSAGE = {"binary": false, "data": "<base64>"}

It sends each message and expects it back as sent; with a broadcast it
then sends the text "ready", expects the broadcast message, and echoes the
messages after. Then it closes with 1000 "done". Prints one JSON line
(echoed counts the messages and the messages after):

    {"client": "websockets", "version": "10.4", "extensions": "<the server's answer>",
     "echoed": N, "error": ""}

and exits 0 if everything came back as sent, 1 otherwise.
"""

import argparse
import asyncio
import base64
import json
import ssl
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
from client import describe  # noqa: E402 (after the line above)

TIMEOUT = 60.0


def decode(m):
    data = base64.b64decode(m["data"] or "")
    return data if m["binary"] else data.decode("utf-8")


async def expect(ws, what, want):
    got = await ws.recv()
    if type(got) is not type(want) or got != want:
        raise Exception(f"{what}: {describe(got, want)}")


async def run(args, plan, tls, report):
    extensions = None
    if args.client_no_context_takeover or args.server_no_context_takeover or args.server_max_window_bits:
        extensions = [ClientPerMessageDeflateFactory(
            client_no_context_takeover=args.client_no_context_takeover,
            server_no_context_takeover=args.server_no_context_takeover,
            server_max_window_bits=args.server_max_window_bits,
            client_max_window_bits=True,
        )]
    async with websockets.connect(
        args.url, ssl=tls, compression="deflate", extensions=extensions,
        max_size=2 << 20, ping_interval=None, open_timeout=10, close_timeout=5,
    ) as ws:
        report["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        async def echo(messages):
            for m in messages or []:
                msg = decode(m)
                await ws.send(msg)
                await expect(ws, f"message {report['echoed']} ({len(msg)} characters or bytes)", msg)
                report["echoed"] += 1

        await echo(plan["messages"])
        if plan["broadcast"]:
            await ws.send("ready")
            await expect(ws, "the broadcast", decode(plan["broadcast"]))
            await echo(plan["after"])
        await ws.close(code=1000, reason="done")
        if ws.close_code != 1000:
            raise Exception(f"closed with {ws.close_code}, want 1000")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cafile", help="PEM file of the CA certificates a wss:// server is verified against")
    ap.add_argument("--plan", required=True, help="the plan's JSON file")
    ap.add_argument("--client-no-context-takeover", action="store_true")
    ap.add_argument("--server-no-context-takeover", action="store_true")
    ap.add_argument("--server-max-window-bits", type=int)
    ap.add_argument("url")
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    tls = None
    if args.url.startswith("wss://") and args.cafile:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.load_verify_locations(cafile=args.cafile)
    report = {"client": "websockets", "version": websockets.__version__, "extensions": "", "echoed": 0, "error": ""}
    try:
        asyncio.run(asyncio.wait_for(run(args, plan, tls, report), TIMEOUT))
    except asyncio.TimeoutError:
        report["error"] = f"timed out after {TIMEOUT:g} s"
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report))
    sys.exit(1 if report["error"] else 0)


if __name__ == "__main__":
    main()
