// Interop client for wssd's HTTP API: Pusher's official Node server SDK
// (the `pusher` package) calls the API on the port pusher-js connects to,
// and pusher-js subscribers check what arrives.
//
// Usage: node pusher_api.mjs CONFIG_JSON
//
// CONFIG_JSON: {"key","secret","appId","host","port","tls" (bool)}. Over TLS,
// Node trusts the CA in NODE_EXTRA_CA_CERTS, for both the SDK and pusher-js.
//
// Prints one JSON line, {"client":"pusher","version","results":[{"name","ok","error"}]},
// and exits 0 if every check passed, 1 otherwise. The check names must
// match interop/pusher_api_test.go.

import { createRequire } from 'node:module';
import { connected, eq, nothing, pusherClient, runChecks, subscribed } from './checks.mjs';

const require = createRequire(import.meta.url);
const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');
const version = require('pusher/package.json').version;

const cfg = JSON.parse(process.argv[2]);
const sdk = new PusherSDK({
  appId: cfg.appId, key: cfg.key, secret: cfg.secret,
  host: cfg.host, port: String(cfg.port), useTLS: cfg.tls,
});

const opened = [];

// connect opens a pusher-js connection whose auth handlers vouch for user.
function connect(user) {
  const p = pusherClient(PusherJS, sdk, cfg, user);
  opened.push(p);
  return p;
}

function once(target, event) {
  return new Promise((resolve) => {
    const f = (data) => { target.unbind(event, f); resolve(data); };
    target.bind(event, f);
  });
}

// global resolves with the data of the first event named event that p
// receives on any channel, known to pusher-js or not.
function global(p, event) {
  return new Promise((resolve) => {
    const f = (name, data) => { if (name === event) { p.unbind_global(f); resolve(data); } };
    p.bind_global(f);
  });
}

// signedIn connects as user, signs in and waits for #server-to-user-{user}.
async function signedIn(user) {
  const p = connect(user);
  await connected(p);
  p.signin();
  await p.user.signinDonePromise;
  await new Promise((resolve) => {
    const ch = p.user.serverToUserChannel;
    if (ch.subscribed) return resolve();
    ch.bind('pusher:subscription_succeeded', resolve);
  });
  return p;
}

// The subscribers of the checks that read channels.
let a; let b; let member;

const checks = {
  async trigger() {
    a = connect('a'); b = connect('b');
    await Promise.all([connected(a), connected(b)]);
    const [cha, chb] = await Promise.all([subscribed(a, 'api-news'), subscribed(b, 'api-news')]);
    const got = once(chb, 'created');
    const excluded = nothing(cha, 'created', 300);
    const res = await sdk.trigger('api-news', 'created', { id: 7 },
      { socket_id: a.connection.socket_id, info: 'subscription_count' });
    eq(res.status, 200, 'status');
    eq(await res.json(), { channels: { 'api-news': { subscription_count: 2 } } }, 'answer');
    eq(await got, { id: 7 }, 'event');
    await excluded;
  },

  async 'trigger-batch'() {
    member = connect('member');
    await connected(member);
    const chm = await subscribed(member, 'presence-api');
    const chb = b.channel('api-news');
    const got = Promise.all([once(chb, 'one'), once(chm, 'two')]);
    const res = await sdk.triggerBatch([
      { channel: 'api-news', name: 'one', data: { n: 1 } },
      { channel: 'presence-api', name: 'two', data: { n: 2 }, info: 'user_count,subscription_count' },
    ]);
    eq(await res.json(), { batch: [{}, { user_count: 1, subscription_count: 1 }] }, 'answer');
    eq(await got, [{ n: 1 }, { n: 2 }], 'events');
  },

  async channels() {
    const res = await sdk.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
    eq(await res.json(), { channels: { 'presence-api': { user_count: 1 } } }, 'presence channels');
    const all = await (await sdk.get({ path: '/channels' })).json();
    eq(Object.keys(all.channels).sort(), ['api-news', 'presence-api'], 'all channels');
  },

  async channel() {
    const res = await sdk.get({ path: '/channels/presence-api', params: { info: 'user_count,subscription_count' } });
    eq(await res.json(), { occupied: true, user_count: 1, subscription_count: 1 }, 'presence channel');
    const empty = await (await sdk.get({ path: '/channels/nobody-here' })).json();
    eq(empty, { occupied: false }, 'empty channel');
  },

  async users() {
    const res = await sdk.get({ path: '/channels/presence-api/users' });
    eq(await res.json(), { users: [{ id: 'member' }] }, 'users');
  },

  async 'send-to-user'() {
    const [t1, t2] = await Promise.all([signedIn('dest'), signedIn('dest')]);
    const got = Promise.all([once(t1.user, 'note'), once(t2.user, 'note')]);
    await sdk.sendToUser('dest', 'note', { text: 'hi' });
    eq(await got, [{ text: 'hi' }, { text: 'hi' }], 'user events');
  },

  async 'terminate-user-connections'() {
    const p = await signedIn('doomed');
    const refused = new Promise((resolve) => {
      p.connection.bind('error', (e) => { if (e && e.data && e.data.code === 4009) resolve(); });
    });
    const res = await sdk.terminateUserConnections('doomed');
    eq(res.status, 200, 'status');
    await refused;
  },

  async 'data-too-large'() {
    try {
      await sdk.trigger('api-news', 'big', 'x'.repeat(10 * 1024 + 1));
    } catch (e) {
      eq(e.status, 413, 'status');
      return;
    }
    throw new Error('a trigger of more than 10 KB was accepted');
  },

  async 'bad-secret'() {
    const wrong = new PusherSDK({ appId: cfg.appId, key: cfg.key, secret: 'not-the-secret', host: cfg.host, port: String(cfg.port), useTLS: cfg.tls });
    try {
      await wrong.trigger('api-news', 'e', {});
    } catch (e) {
      eq(e.status, 401, 'status');
      return;
    }
    throw new Error('a request signed with the wrong secret was accepted');
  },

  // The Gateway facade through the SDK's generic post and get.
  async gateway() {
    const p = connect('gw');
    await connected(p);
    const sid = p.connection.socket_id;
    await sdk.post({ path: '/gateway/bind_uid', body: { socket_id: sid, uid: 'gw-user' } });
    const online = await (await sdk.get({ path: '/gateway/uids/gw-user' })).json();
    eq(online, { online: true, socket_ids: [sid] }, 'uid online');
    await sdk.post({ path: '/gateway/join_group', body: { socket_id: sid, group: 'gw-room' } });
    const got = Promise.all([global(p, 'to-uid'), global(p, 'to-group')]);
    await sdk.post({ path: '/gateway/send_to_uid', body: { uid: 'gw-user', event: 'to-uid', data: JSON.stringify({ a: 1 }) } });
    await sdk.post({ path: '/gateway/send_to_group', body: { group: 'gw-room', event: 'to-group', data: JSON.stringify({ b: 2 }) } });
    eq(await got, [{ a: 1 }, { b: 2 }], 'facade events');
    const group = await (await sdk.get({ path: '/gateway/groups/gw-room' })).json();
    eq(group, { count: 1, uids: ['gw-user'] }, 'group');
  },
};

await runChecks('pusher', version, checks, () => { for (const p of opened) p.disconnect(); });
