// Interop client for wssd's tests, on Node's ws package.
//
// Usage: node client.mjs [--timeout SECONDS] [--cafile PEM] BASE_URL [CHECK ...]
//
// Runs each check (all of them by default) on its own connection to
// BASE_URL/CHECK against wssd's echo handler, which sends every message back
// and closes with 1000 "bye" on the text "close-me". A wss:// BASE_URL is
// verified against the CA certificates in --cafile (default: Node's).
// Prints one JSON line:
//
//   {"client":"ws","version":"8.23.0","results":[{"name":"echo-text","ok":true,"error":""},...]}
//
// and exits 0 if every check passed, 1 if one failed (each failure is also
// written to stderr), 2 on a usage error. The checks and payloads must match
// interop/checks_test.go.

import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';

const ECHO_SIZES = [0, 1, 125, 126, 64 << 10, (1 << 20) - 16];
const FRAGMENTS = ['frag', '', 'men', 't'.repeat(5000), 'ed'];
const CLOSE_ME = 'close-me';
const BYE_CODE = 1000;
const BYE_REASON = 'bye';
const CHECK_TIMEOUT_MS = 20_000; // one check, connection included

const wsVersion = JSON.parse(
  readFileSync(new URL('./node_modules/ws/package.json', import.meta.url), 'utf8'),
).version;

class CheckFailed extends Error {
  name = 'CheckFailed';
}

// payload returns n bytes of the pattern checks_test.go's payload() makes:
// a string for text, a Buffer for binary.
function payload(text, n) {
  if (text) {
    let pattern = '';
    for (let i = 0; i < 23; i++) pattern += String.fromCharCode(97 + i);
    return pattern.repeat(Math.floor(n / 23) + 1).slice(0, n);
  }
  const p = Buffer.alloc(n);
  for (let i = 0; i < n; i++) p[i] = (i * 7) % 251;
  return p;
}

// Conn wraps a WebSocket with awaitable events: messages are queued as they
// arrive, and close and pong events are remembered.
class Conn {
  // ca, when set, holds the only CA certificates a wss:// server may chain to.
  constructor(url, ca) {
    this.ws = new WebSocket(url, { maxPayload: 2 << 20, handshakeTimeout: 10_000, ca });
    this.messages = [];
    this.waiters = [];
    this.pongs = [];
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('error', (err) => {
      this.error = err;
      this.wake();
    });
    this.ws.on('message', (data, isBinary) => {
      this.messages.push({ data, isBinary });
      this.wake();
    });
    this.ws.on('pong', (data) => {
      this.pongs.push(data.toString());
      this.wake();
    });
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  // until resolves once cond() is true, or rejects when the connection fails.
  async until(cond, what) {
    while (!cond()) {
      if (this.error) throw this.error;
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new CheckFailed(`connection closed while waiting for ${what}`);
      }
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }

  async recv() {
    await this.until(() => this.messages.length > 0, 'a message');
    return this.messages.shift();
  }

  async expectEcho(want) {
    const m = await this.recv();
    const text = typeof want === 'string';
    if (m.isBinary === text) {
      throw new CheckFailed(`echo is ${m.isBinary ? 'binary' : 'text'}, want ${text ? 'text' : 'binary'}`);
    }
    const wantBuf = text ? Buffer.from(want) : want;
    if (!m.data.equals(wantBuf)) {
      throw new CheckFailed(`echo of a ${wantBuf.length}-byte message: got ${m.data.length} bytes or different ones`);
    }
  }

  send(data, opts) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  // closeDone closes from the client and checks the server echoes the code.
  async closeDone(code = 1000) {
    this.ws.close(code, 'done');
    const c = await this.closed;
    if (c.code !== code) {
      throw new CheckFailed(`client closed with ${code}, server answered ${c.code}`);
    }
  }
}

async function checkEcho(c, text) {
  for (const n of ECHO_SIZES) {
    const msg = payload(text, n);
    await c.send(msg, { binary: !text });
    await c.expectEcho(msg);
  }
  await c.closeDone();
}

async function checkFragmented(c, text) {
  // Each send with fin:false is one frame; ws sends the first with the
  // message's opcode and the rest as continuations.
  const parts = text ? FRAGMENTS : FRAGMENTS.map((f) => Buffer.from(f));
  for (let i = 0; i < parts.length; i++) {
    await c.send(parts[i], { binary: !text, fin: i === parts.length - 1 });
  }
  await c.expectEcho(text ? parts.join('') : Buffer.concat(parts));
  await c.closeDone();
}

async function checkPing(c) {
  c.ws.ping(Buffer.from('hello'));
  await c.until(() => c.pongs.length > 0, 'the pong');
  if (c.pongs[0] !== 'hello') {
    throw new CheckFailed(`pong carries ${JSON.stringify(c.pongs[0])}, want "hello"`);
  }
  await c.send('after-ping', { binary: false });
  await c.expectEcho('after-ping');
  await c.closeDone();
}

async function checkServerClose(c) {
  await c.send(CLOSE_ME, { binary: false });
  const { code, reason } = await c.closed;
  if (c.messages.length > 0) {
    throw new CheckFailed(`got ${c.messages.length} messages before the server's close`);
  }
  if (code !== BYE_CODE || reason !== BYE_REASON) {
    throw new CheckFailed(`server closed with ${code} ${JSON.stringify(reason)}, want ${BYE_CODE} "${BYE_REASON}"`);
  }
}

const CHECKS = {
  'echo-text': (c) => checkEcho(c, true),
  'echo-binary': (c) => checkEcho(c, false),
  'fragmented-text': (c) => checkFragmented(c, true),
  'fragmented-binary': (c) => checkFragmented(c, false),
  ping: checkPing,
  'client-close-1000': (c) => c.closeDone(1000),
  'client-close-4000': (c) => c.closeDone(4000),
  'server-close': checkServerClose,
};

async function runCheck(base, name, ca) {
  let c;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out after ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
  });
  try {
    c = new Conn(`${base}/${name}`, ca);
    await Promise.race([
      (async () => {
        await c.opened;
        await CHECKS[name](c);
      })(),
      timeout,
    ]);
    return '';
  } catch (err) {
    return `${err.name}: ${err.message}`;
  } finally {
    clearTimeout(timer);
    c?.ws.terminate(); // no-op once closed
  }
}

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\nusage: node client.mjs [--timeout SECONDS] [--cafile PEM] BASE_URL [CHECK ...]\n`);
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let timeoutS = 120;
  let ca;
  while (args[0]?.startsWith('--')) {
    const [flag, value] = args.splice(0, 2);
    if (value === undefined) usage(`${flag} takes a value`);
    if (flag === '--timeout') {
      timeoutS = Number(value);
      if (!(timeoutS > 0)) usage('--timeout takes a positive number of seconds');
    } else if (flag === '--cafile') {
      ca = readFileSync(value);
    } else {
      usage(`unknown flag ${flag}`);
    }
  }
  if (args.length < 1) usage('missing BASE_URL');
  const base = args[0].replace(/\/+$/, '');
  const names = args.length > 1 ? args.slice(1) : Object.keys(CHECKS);
  const unknown = names.filter((n) => !(n in CHECKS));
  if (unknown.length > 0) usage(`unknown checks: ${unknown.join(', ')}`);

  setTimeout(() => {
    process.stderr.write(`client.mjs: FAIL: the run took more than ${timeoutS} s\n`);
    process.exit(1);
  }, timeoutS * 1000).unref();

  const results = [];
  for (const name of names) {
    const error = await runCheck(base, name, ca);
    results.push({ name, ok: error === '', error });
  }
  process.stdout.write(JSON.stringify({ client: 'ws', version: wsVersion, results }) + '\n');
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) process.stderr.write(`client.mjs: FAIL: ${r.name}: ${r.error}\n`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

main();
