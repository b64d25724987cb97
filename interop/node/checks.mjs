// Helpers shared by the interop scripts that drive pusher-js: waiting for
// a connection and a subscription, comparing, and running named checks into
// the one-line JSON report the Go tests read (see runReport in
// interop/pusher_api_test.go).

// connected resolves once the pusher-js connection p is connected.
export function connected(p) {
  return new Promise((resolve, reject) => {
    if (p.connection.state === 'connected') return resolve();
    p.connection.bind('connected', resolve);
    p.connection.bind('failed', () => reject(new Error('connection failed')));
    p.connection.bind('unavailable', () => reject(new Error('connection unavailable')));
  });
}

// subscribed subscribes p to the channel name and resolves with the
// channel once the server confirmed it.
export function subscribed(p, name) {
  const ch = p.subscribe(name);
  return new Promise((resolve, reject) => {
    ch.bind('pusher:subscription_succeeded', () => resolve(ch));
    ch.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
  });
}

// eq throws unless got and want are the same JSON.
export function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

// nothing checks that target does not emit event within ms; a failure is
// reported where the promise is awaited, not as an unhandled rejection.
export function nothing(target, event, ms) {
  const p = new Promise((resolve, reject) => {
    const f = (d) => reject(new Error(`unexpected ${event}: ${JSON.stringify(d)}`));
    target.bind(event, f);
    setTimeout(() => { target.unbind(event, f); resolve(); }, ms);
  });
  p.catch(() => {});
  return p;
}

function withTimeout(p, name, ms) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: timed out after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// runChecks runs each check in turn, each within timeoutMs, disconnects
// the connections in opened, prints the report and exits: 0 if every check
// passed. An error's body, when it has one (the pusher SDK's request
// errors), is reported with it.
export async function runChecks(checks, { client, version, opened, timeoutMs }) {
  const results = [];
  for (const [name, run] of Object.entries(checks)) {
    try {
      await withTimeout(run(), name, timeoutMs);
      results.push({ name, ok: true, error: '' });
    } catch (e) {
      const body = e.body ? ` (body: ${e.body})` : '';
      process.stderr.write(`${name}: ${e.stack || e}${body}\n`);
      results.push({ name, ok: false, error: String(e.message || e) + (e.body ? `: ${e.body}` : '') });
    }
  }
  for (const p of opened) p.disconnect();
  process.stdout.write(JSON.stringify({ client, version, results }) + '\n');
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
