// The check runner shared by the push interop scripts (pusher.mjs,
// echo.mjs): each check is an async function, run in order, each bounded
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
// report of client at version and exits.
export async function runChecks(client, version, checks, cleanup) {
  const results = [];
  for (const [name, run] of Object.entries(checks)) {
    try {
      await withTimeout(run(), name);
      results.push({ name, ok: true, error: '' });
    } catch (e) {
      process.stderr.write(`${name}: ${e.stack || e}\n`);
      results.push({ name, ok: false, error: String(e.message || e) });
    }
  }
  cleanup();
  process.stdout.write(JSON.stringify({ client, version, results }) + '\n');
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}
