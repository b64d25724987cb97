// permessage-deflate client for wssd's tests, on Node's ws package.
//
// Usage: node deflate.mjs [--cafile PEM] [--client-no-context-takeover]
//          [--server-no-context-takeover] [--server-max-window-bits N]
//          --plan FILE URL
//
// Connects to URL offering permessage-deflate (ws's perMessageDeflate, with
// the options the flags name), and follows the plan in FILE, which
// interop/deflate_test.go writes:
//
//   {"messages": [MESSAGE, ...], "broadcast": MESSAGE or null, "after": [MESSAGE, ...] or null}
//   MESSAGE = {"binary": false, "data": "<base64>"}
//
// It sends each message and expects it back as sent; with a broadcast it
// then sends the text "ready", expects the broadcast message, and echoes
// the messages after. Then it closes with 1000 "done". Prints one JSON
// line (echoed counts the messages and the messages after):
//
//   {"client":"ws","version":"8.23.0","extensions":"<the server's answer>","echoed":N,"error":""}
//
// and exits 0 if everything came back as sent, 1 otherwise.

import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';

const TIMEOUT_MS = 60_000;

const wsVersion = JSON.parse(
  readFileSync(new URL('./node_modules/ws/package.json', import.meta.url), 'utf8'),
).version;

function usage(msg) {
  process.stderr.write(`deflate.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(args) {
  const o = { pmd: {} };
  while (args[0]?.startsWith('--')) {
    const flag = args.shift();
    if (flag === '--cafile') o.ca = readFileSync(args.shift());
    else if (flag === '--plan') o.plan = JSON.parse(readFileSync(args.shift(), 'utf8'));
    else if (flag === '--client-no-context-takeover') o.pmd.clientNoContextTakeover = true;
    else if (flag === '--server-no-context-takeover') o.pmd.serverNoContextTakeover = true;
    else if (flag === '--server-max-window-bits') o.pmd.serverMaxWindowBits = Number(args.shift());
    else usage(`unknown flag ${flag}`);
  }
  if (args.length !== 1 || !o.plan) usage('want --plan FILE and one URL');
  o.url = args[0];
  return o;
}

// describe says how got differs from want, two Buffers.
function describe(got, want) {
  if (got.length !== want.length) return `got ${got.length} bytes, want ${want.length}`;
  let i = 0;
  while (got[i] === want[i]) i++;
  return `first difference at byte ${i}`;
}

let ws; // the connection, ended when the run fails

async function run(o, report) {
  ws = new WebSocket(o.url, { perMessageDeflate: o.pmd, ca: o.ca, maxPayload: 2 << 20, handshakeTimeout: 10_000 });
  const queue = [];
  let wake = () => {};
  let failure;
  ws.on('upgrade', (res) => {
    report.extensions = res.headers['sec-websocket-extensions'] ?? '';
  });
  ws.on('message', (data, isBinary) => {
    queue.push({ data, isBinary });
    wake();
  });
  ws.on('error', (err) => {
    failure = err;
    wake();
  });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => {
    resolve({ code, reason: reason.toString() });
    wake();
  }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = async () => {
    while (queue.length === 0) {
      if (failure) throw failure;
      if (ws.readyState === WebSocket.CLOSED) throw new Error('closed by the server');
      await new Promise((resolve) => { wake = resolve; });
    }
    return queue.shift();
  };
  const expect = async (what, m) => {
    const want = Buffer.from(m.data ?? '', 'base64');
    const got = await next();
    if (got.isBinary !== m.binary) throw new Error(`${what}: got binary=${got.isBinary}, want ${m.binary}`);
    if (!got.data.equals(want)) throw new Error(`${what}: ${describe(got.data, want)}`);
  };
  const echo = async (messages) => {
    for (const m of messages ?? []) {
      const data = Buffer.from(m.data ?? '', 'base64');
      ws.send(m.binary ? data : data.toString('utf8'), { binary: m.binary });
      await expect(`message ${report.echoed} (${data.length} bytes)`, m);
      report.echoed++;
    }
  };
  await echo(o.plan.messages);
  if (o.plan.broadcast) {
    ws.send('ready');
    await expect('the broadcast', o.plan.broadcast);
    await echo(o.plan.after);
  }
  ws.close(1000, 'done');
  const { code } = await closed;
  if (code !== 1000) throw new Error(`closed with ${code}, want 1000`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const report = { client: 'ws', version: wsVersion, extensions: '', echoed: 0, error: '' };
  setTimeout(() => {
    report.error = `timed out after ${TIMEOUT_MS / 1000} s`;
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(1);
  }, TIMEOUT_MS).unref();
  try {
    await run(o, report);
  } catch (err) {
    report.error = `${err.name}: ${err.message}`;
    ws?.terminate();
  }
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exitCode = report.error ? 1 : 0;
}

main();
