// Helpers shared by the push interop scripts (pusher.mjs, pusher_api.mjs,
// echo.mjs, cluster.mjs), and their check runner: each check is an async function, run in order, each bounded
// by a timeout; the report is one JSON line on stdout,
// {"client","version","results":[{"name","ok","error"}]}, and the exit
// status is 0 only if every check passed.

import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

const nacl = createRequire(import.meta.url)('tweetnacl');
const CHECK_TIMEOUT_MS = 15_000;

// eq throws unless got and want have the same JSON encoding.
export function eq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

// connected resolves once the pusher-js connection p is connected.
export function connected(p) {
  return new Promise((resolve, reject) => {
    if (p.connection.state === 'connected') return resolve();
    p.connection.bind('connected', resolve);
    p.connection.bind('failed', () => reject(new Error('connection failed')));
    p.connection.bind('unavailable', () => reject(new Error('connection unavailable')));
  });
}

// subscribed subscribes the pusher-js connection p to the channel name and
// resolves with the channel once the server confirmed it.
export function subscribed(p, name) {
  const ch = p.subscribe(name);
  return new Promise((resolve, reject) => {
    ch.bind('pusher:subscription_succeeded', () => resolve(ch));
    ch.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
  });
}

// pusherClient opens a pusher-js connection (PusherJS is the pusher-js
// module) to host:port, over TLS if tls, whose channel and user
// authorization handlers vouch for user through the pusher SDK sdk.
export function pusherClient(PusherJS, sdk, { key, host, port, tls }, user) {
  return new PusherJS(key, {
    cluster: 'local',
    wsHost: host, wsPort: port, wssPort: port,
    forceTLS: tls, enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        const presence = channelName.startsWith('presence-') ? { user_id: user } : undefined;
        cb(null, sdk.authorizeChannel(socketId, channelName, presence));
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, cb) => cb(null, sdk.authenticateUser(socketId, { id: user })),
    },
  });
}

// laravelEcho returns a Laravel Echo (Echo is laravel-echo's class,
// PusherJS pusher-js's) as a Laravel front end makes it, broadcaster
// 'pusher', connecting to host:port, over TLS if tls, with the bearer
// token given; the test's control server at control stands in for
// Laravel's /broadcasting/auth.
export function laravelEcho(Echo, PusherJS, { key, host, port, tls, control }, token) {
  return new Echo({
    broadcaster: 'pusher',
    Pusher: PusherJS,
    key,
    cluster: 'mt1',
    wsHost: host, wsPort: port, wssPort: port,
    forceTLS: tls, enabledTransports: ['ws', 'wss'], disableStats: true,
    authEndpoint: control + '/broadcasting/auth',
    bearerToken: token,
    // Echo copies its default options shallowly, so without objects of
    // their own every Echo in one process would share one auth.headers and
    // send the last bearer token set.
    auth: { headers: {} },
    userAuthentication: { endpoint: control + '/broadcasting/user-auth', headers: {} },
  });
}

// echoSubscribed resolves with the Echo channel once the server confirmed
// its subscription, and rejects on a subscription error. Call it before the
// subscription can succeed (just after Echo's channel(), private(), join()).
export function echoSubscribed(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribed(() => resolve(channel));
    channel.error((e) => reject(new Error(`subscription error on ${channel.name}: ${JSON.stringify(e)}`)));
  });
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

// controller returns a function that POSTs a JSON body to a path of the
// test's control server at base and throws unless it answers 2xx.
export function controller(base) {
  return async (path, body) => {
    const r = await fetch(base + path, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`control ${path}: ${r.status} ${await r.text()}`);
  };
}

// encrypted returns the data of an event on an encrypted channel, as
// Pusher's server libraries (and so Laravel's broadcaster) encrypt it:
// {nonce, ciphertext}, the payload's JSON in a secretbox whose key is the
// SHA-256 of the channel name and the master key (base64).
export function encrypted(channel, masterKeyBase64, payload) {
  const key = createHash('sha256')
    .update(Buffer.concat([Buffer.from(channel), Buffer.from(masterKeyBase64, 'base64')])).digest();
  const nonce = randomBytes(24);
  const box = nacl.secretbox(Buffer.from(JSON.stringify(payload)), nonce, key);
  return JSON.stringify({ nonce: nonce.toString('base64'), ciphertext: Buffer.from(box).toString('base64') });
}

function withTimeout(p, name) {
  let timer;
  return Promise.race([p, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  })]).finally(() => clearTimeout(timer));
}

// runChecks runs checks ({name: async function}), then cleanup, prints the
// report of client at version and exits. An error's body, when it has one
// (the pusher SDK's request errors), is reported with it.
export async function runChecks(client, version, checks, cleanup) {
  const results = [];
  for (const [name, run] of Object.entries(checks)) {
    try {
      await withTimeout(run(), name);
      results.push({ name, ok: true, error: '' });
    } catch (e) {
      const body = e.body ? ` (body: ${e.body})` : '';
      process.stderr.write(`${name}: ${e.stack || e}${body}\n`);
      results.push({ name, ok: false, error: String(e.message || e) + (e.body ? `: ${e.body}` : '') });
    }
  }
  cleanup();
  process.stdout.write(JSON.stringify({ client, version, results }) + '\n');
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
