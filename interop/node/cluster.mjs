// Interop client for wssd's cluster (-procs, NATS): many pusher-js
// connections (or Laravel Echos, in mode echo) spread over the workers of
// one or more wssd instances, and Pusher's Node server SDK (or, in mode
// php, the test's PHP script) calling the HTTP API, each request on a new
// TCP connection (so on any worker). Every event the script causes carries a
// unique tag; each client counts the tagged events it receives, per
// channel, and a check passes only if each intended client got each event
// exactly once on each intended channel and no other client got it.
//
// Usage: node cluster.mjs CONFIG_JSON
//
// CONFIG_JSON: {"mode" (delivery, kill, outage, machines, presence,
// presence-kill, webhooks, gateway-bind, echo or php: the checks run), "appId","key","secret","host","tls" (bool),
// "servers": [{"port","nodes": [the node numbers of its workers]}],
// "control" (the test's server: POST /kill {"node"}, POST /nats/stop,
// POST /nats/start, GET /hooks, GET /metrics/{name} (the series' values
// by worker), and in mode echo POST /broadcasting/auth, in mode php POST
// /php), "users" (mode echo: the Laravel user of each bearer token)}. Over
// TLS, Node trusts the CA in NODE_EXTRA_CA_CERTS.
//
// Prints one JSON line, {"client":"pusher-js" ("laravel-echo" in mode
// echo),"version","results":[...]},
// and exits 0 if every check passed. The check names must match
// interop/cluster_test.go.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import Echo from 'laravel-echo';
import { connected, controller, echoSubscribed, eq, laravelEcho, pusherClient, runChecks, subscribed } from './checks.mjs';

const require = createRequire(import.meta.url);
const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');
const version = require('pusher-js/package.json').version;
const echoVersion = JSON.parse(readFileSync(new URL('./node_modules/laravel-echo/package.json', import.meta.url))).version;

const cfg = JSON.parse(process.argv[2]);
const control = controller(cfg.control);

// SETTLE_MS is how long a check waits, once every intended client has an
// event, for duplicates or strays to show.
const SETTLE_MS = 500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One SDK per server; keepAlive off: each request is a new connection,
// which the kernel hands to any of the server's workers.
const sdks = cfg.servers.map((s) => new PusherSDK({
  appId: cfg.appId, key: cfg.key, secret: cfg.secret,
  host: cfg.host, port: String(s.port), useTLS: cfg.tls,
  agent: new (cfg.tls ? https : http).Agent({ keepAlive: false }),
}));
const sdk = sdks[0];

// clients are every connection the script opened and has not closed.
let clients = [];

// nodeOf returns the node number in a socket id: "9.257123456789" is 257.
function nodeOf(socketId) {
  const digits = socketId.split('.')[1];
  return Number(digits.slice(0, -9) || '0');
}

// connect opens a pusher-js connection to server s as user and returns
// the client: {p, user, server, got: Map(tag → Map(channel → n))}; it
// counts every tagged event its connection receives.
function connect(user, s = 0) {
  const p = pusherClient(PusherJS, sdk, { key: cfg.key, host: cfg.host, port: cfg.servers[s].port, tls: cfg.tls }, user);
  const c = { p, user, server: s, got: new Map() };
  p.connection.bind('message', (m) => record(c, m && m.data, m && m.channel));
  clients.push(c);
  return c;
}

// connectEcho opens a Laravel Echo to server s with the bearer token user
// and returns the client, as connect's with echo (the Echo) and p (its
// pusher-js): it counts only the tagged events its Echo's listeners get
// (echoListen).
function connectEcho(user, s = 0) {
  const echo = laravelEcho(Echo, PusherJS, { key: cfg.key, host: cfg.host, port: cfg.servers[s].port, tls: cfg.tls, control: cfg.control }, user);
  const c = { p: echo.connector.pusher, echo, user, server: s, got: new Map() };
  clients.push(c);
  return c;
}

// record counts, at client c, the event data with a tag on channel.
function record(c, data, channel) {
  const tag = data && typeof data === 'object' ? data.tag : undefined;
  if (typeof tag !== 'string') return;
  const byChannel = c.got.get(tag) || new Map();
  byChannel.set(channel || '', (byChannel.get(channel || '') || 0) + 1);
  c.got.set(tag, byChannel);
}

function close(c) {
  c.p.disconnect();
  clients = clients.filter((x) => x !== c);
}

const id = (c) => c.p.connection.socket_id;
const node = (c) => nodeOf(id(c));

// spread connects clients (open(user(i), s) for the i-th) to server s
// until each of its nodes has at least perNode of them, and returns them.
async function spread(s, perNode, user, open = connect) {
  const mine = [];
  const want = cfg.servers[s].nodes;
  for (let batch = 0; batch < 10; batch++) {
    const fresh = [];
    for (let i = 0; i < 2 * want.length; i++) fresh.push(open(user(mine.length + fresh.length), s));
    await Promise.all(fresh.map((c) => connected(c.p)));
    mine.push(...fresh);
    const count = (n) => mine.filter((c) => node(c) === n).length;
    for (const c of mine) {
      if (!want.includes(node(c))) throw new Error(`socket ${id(c)} of server ${s} has node ${node(c)}, not one of ${want}`);
    }
    if (want.every((n) => count(n) >= perNode)) return mine;
  }
  throw new Error(`${mine.length} connections to server ${s}: by node ${JSON.stringify(want.map((n) => [n, mine.filter((c) => node(c) === n).length]))}`);
}

// onNodes returns one client of user per node of server s, each on a
// different node, opened by open, closing the connections it made beyond
// those.
async function onNodes(user, nodes, s = 0, open = connect) {
  const found = new Map();
  for (let i = 0; i < 40 && found.size < nodes.length; i++) {
    const c = open(user, s);
    await connected(c.p);
    if (nodes.includes(node(c)) && !found.has(node(c))) found.set(node(c), c);
    else close(c);
  }
  if (found.size < nodes.length) throw new Error(`${user}: connections on nodes ${[...found.keys()]}, want ${nodes}`);
  return nodes.map((n) => found.get(n));
}

// checked lists every [tag, want] delivery checked so far, for
// no-late-duplicates.
const checked = [];
let tags = 0;
const newTag = (what) => `${what}-${++tags}`;

// count returns how many times client c got tag on channel.
const count = (c, tag, channel) => (c.got.get(tag) && c.got.get(tag).get(channel)) || 0;

// delivered runs send(tag) with a new tag and checks, with deliveredAll,
// that it reached each [client, channel] of want exactly once.
async function delivered(what, want, send) {
  const tag = newTag(what);
  await deliveredAll({ [tag]: want }, () => send(tag));
  return tag;
}

// deliveredAll runs send(), waits until each [client, channel] of
// wants[tag] has the event of each tag, waits SETTLE_MS more, and checks
// that each got it exactly once and nothing else got it.
async function deliveredAll(wants, send) {
  await send();
  const entries = Object.entries(wants);
  const missing = () => entries.flatMap(([tag, want]) => want.filter(([c, ch]) => count(c, tag, ch) === 0).map((w) => [tag, ...w]));
  for (const deadline = Date.now() + 5000; missing().length > 0; await sleep(20)) {
    if (Date.now() > deadline) {
      const m = missing();
      throw new Error(`${m.length} deliveries missing after 5 s, e.g. ${m.slice(0, 4).map(([tag, c, ch]) => `${tag} to ${id(c)} on ${ch || '(no channel)'}`).join(', ')}`);
    }
  }
  await sleep(SETTLE_MS);
  for (const [tag, want] of entries) {
    checked.push([tag, want]);
    exactly(tag, want);
  }
}

// exactly checks that tag reached each [client, channel] of want once and
// nothing else.
function exactly(tag, want) {
  const bad = [];
  for (const c of clients) {
    const byChannel = c.got.get(tag) || new Map();
    const channels = new Set([...byChannel.keys(), ...want.filter(([w]) => w === c).map(([, ch]) => ch)]);
    for (const ch of channels) {
      const n = byChannel.get(ch) || 0;
      const w = want.some(([wc, wch]) => wc === c && wch === ch) ? 1 : 0;
      if (n !== w) bad.push(`${id(c)} (node ${node(c)}) got it ${n} times on ${ch || '(no channel)'}, want ${w}`);
    }
  }
  if (bad.length) throw new Error(`${tag}: ${bad.length} wrong: ${bad.slice(0, 4).join('; ')}`);
}

// same sends a query n times, each on a new connection, and checks every
// answer (through norm) equals want.
async function same(what, query, want, norm = (x) => x, n = 6) {
  for (let i = 1; i <= n; i++) {
    const res = await query();
    eq(norm(await res.json()), want, `${what} (request ${i} of ${n})`);
  }
}

const sortUsers = (a) => ({ users: a.users.map((u) => u.id).sort() });
const on = (list, ch) => list.map((c) => [c, ch]);

// The delivery, kill, outage and machines modes.
let all = []; let priv = []; let pres = []; let dest = [];

const noLateDuplicates = {
  async 'no-late-duplicates'() {
    await sleep(SETTLE_MS);
    for (const [tag, want] of checked) exactly(tag, want.filter(([c]) => clients.includes(c)));
  },
};

// subscribeAll subscribes the clients to news, every second one to
// private-team and every third to presence-lobby, then gives the workers a
// moment to subscribe to the channels' NATS subjects (cluster/doc.go).
async function subscribeAll() {
  priv = all.filter((_, i) => i % 2 === 0);
  pres = all.filter((_, i) => i % 3 === 0);
  await Promise.all([
    ...all.map((c) => subscribed(c.p, 'news')),
    ...priv.map((c) => subscribed(c.p, 'private-team')),
    ...pres.map((c) => subscribed(c.p, 'presence-lobby')),
  ]);
  await sleep(300);
}

// signedIn signs c in and waits for its #server-to-user- channel.
async function signedIn(c) {
  c.p.signin();
  await c.p.user.signinDonePromise;
  await new Promise((resolve) => {
    const ch = c.p.user.serverToUserChannel;
    if (ch.subscribed) return resolve();
    ch.bind('pusher:subscription_succeeded', resolve);
  });
  return c;
}

// channelQueries checks the channel queries through every server's SDK,
// each several times.
async function channelQueries() {
  const users = [...new Set(pres.map((c) => c.user))].sort();
  for (const [i, api] of sdks.entries()) {
    const at = `server ${i}: `;
    await same(`${at}channels`, () => api.get({ path: '/channels' }),
      ['news', 'presence-lobby', 'private-team'], (a) => Object.keys(a.channels).sort());
    await same(`${at}presence channels`, () => api.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }),
      { channels: { 'presence-lobby': { user_count: users.length } } });
    await same(`${at}news`, () => api.get({ path: '/channels/news', params: { info: 'subscription_count' } }),
      { occupied: true, subscription_count: all.length });
    await same(`${at}private-team`, () => api.get({ path: '/channels/private-team', params: { info: 'subscription_count' } }),
      { occupied: true, subscription_count: priv.length });
    await same(`${at}presence-lobby`, () => api.get({ path: '/channels/presence-lobby', params: { info: 'user_count,subscription_count' } }),
      { occupied: true, user_count: users.length, subscription_count: pres.length });
    await same(`${at}users`, () => api.get({ path: '/channels/presence-lobby/users' }), { users }, sortUsers);
    await same(`${at}empty channel`, () => api.get({ path: '/channels/nobody-here' }), { occupied: false });
  }
}

// sendToUser signs in two tabs of user dest, on two nodes (of servers
// sa and sb), and sends to the user.
async function sendToUser(nodesA, sa, nodesB, sb) {
  const [t1] = await onNodes('dest', [nodesA[0]], sa);
  const [t2] = await onNodes('dest', [nodesB.find((n) => n !== node(t1))], sb);
  dest = [await signedIn(t1), await signedIn(t2)];
  await sleep(300);
  await delivered('to-user', on(dest, '#server-to-user-dest'), (tag) => sdk.sendToUser('dest', 'note', { tag }));
}

const post = (path, body) => sdk.post({ path: `/gateway/${path}`, body });

const delivery = {
  async spread() {
    all = await spread(0, 3, (i) => `u${i}`);
  },
  subscribe: subscribeAll,
  async trigger() {
    await delivered('one', on(all, 'news'), (tag) => sdk.trigger('news', 'ev', { tag }));
  },
  async 'trigger-several-channels'() {
    await delivered('several', [...on(all, 'news'), ...on(priv, 'private-team'), ...on(pres, 'presence-lobby')],
      (tag) => sdk.trigger(['news', 'private-team', 'presence-lobby'], 'ev', { tag }));
  },
  async 'trigger-exclude'() {
    // Exclude a socket of each node in turn.
    for (const n of cfg.servers[0].nodes) {
      const x = all.find((c) => node(c) === n);
      await delivered(`except-${n}`, [...on(all.filter((c) => c !== x), 'news'), ...on(priv.filter((c) => c !== x), 'private-team')],
        (tag) => sdk.trigger(['news', 'private-team'], 'ev', { tag }, { socket_id: id(x) }));
    }
  },
  async 'trigger-batch'() {
    const [a, b, c] = [newTag('batch'), newTag('batch'), newTag('batch')];
    await deliveredAll({ [a]: on(all, 'news'), [b]: on(priv, 'private-team'), [c]: on(pres, 'presence-lobby') }, async () => {
      const res = await sdk.triggerBatch([
        { channel: 'news', name: 'ev', data: { tag: a } },
        { channel: 'private-team', name: 'ev', data: { tag: b } },
        { channel: 'presence-lobby', name: 'ev', data: { tag: c } },
      ]);
      eq(res.status, 200, 'batch status');
    });
  },
  queries: channelQueries,
  async 'send-to-user'() {
    const ns = cfg.servers[0].nodes;
    await sendToUser(ns, 0, ns, 0);
  },
  async gateway() {
    const ns = cfg.servers[0].nodes;
    const uid = await onNodes('gw-a', ns.slice(0, 2));
    const group = await onNodes('gw-g', ns);
    for (const c of uid) await post('bind_uid', { socket_id: id(c), uid: 'gw-a' });
    for (const c of group) await post('join_group', { socket_id: id(c), group: 'gw-room' });
    await sleep(300);
    await delivered('to-uid', on(uid, '#server-to-user-gw-a'),
      (tag) => post('send_to_uid', { uid: 'gw-a', event: 'to-uid', data: JSON.stringify({ tag }) }));
    await delivered('to-group', on(group.slice(1), 'gw-room'),
      (tag) => post('send_to_group', { group: 'gw-room', event: 'to-group', data: JSON.stringify({ tag }), exclude: [id(group[0])] }));
    const x = all.find((c) => node(c) === ns[ns.length - 1]);
    await delivered('to-all', on(clients.filter((c) => c !== x), ''),
      (tag) => post('send_to_all', { event: 'to-all', data: JSON.stringify({ tag }), exclude: [id(x)] }));
    await same('uid online', () => sdk.get({ path: '/gateway/uids/gw-a' }),
      { online: true, socket_ids: uid.map(id).sort() }, (a) => ({ online: a.online, socket_ids: a.socket_ids.sort() }));
    await same('group', () => sdk.get({ path: '/gateway/groups/gw-room' }), { count: group.length, uids: [] },
      (a) => ({ count: a.count, uids: a.uids.sort() }));
    await same('count', () => sdk.get({ path: '/gateway/count' }), { count: clients.length });
  },
  ...noLateDuplicates,
};

// newsSetup returns the first checks of the kill and outage modes: at
// least two clients (users prefix0, prefix1, ...) per node of the first
// server, all subscribed to news.
function newsSetup(prefix) {
  return {
    async spread() {
      all = await spread(0, 2, (i) => `${prefix}${i}`);
    },
    async subscribe() {
      await Promise.all(all.map((c) => subscribed(c.p, 'news')));
      await sleep(300);
    },
  };
}

// kill mode: the victims are the clients of the worker killed.
let victims = []; let others = []; const before = new Map(); const drops = new Map();

const kill = {
  ...newsSetup('k'),
  async before() {
    await delivered('before', on(all, 'news'), (tag) => sdk.trigger('news', 'ev', { tag }));
  },
  async kill() {
    const victim = node(all[0]);
    victims = all.filter((c) => node(c) === victim);
    others = all.filter((c) => node(c) !== victim);
    for (const c of all) {
      before.set(c, id(c));
      c.p.connection.bind('state_change', ({ current }) => { if (current !== 'connected') drops.set(c, current); });
    }
    await control('/kill', { node: victim });
    for (const deadline = Date.now() + 10000; ; await sleep(50)) {
      const back = victims.filter((c) => c.p.connection.state === 'connected' && id(c) !== before.get(c) && c.p.channel('news').subscribed);
      if (back.length === victims.length) break;
      if (Date.now() > deadline) {
        throw new Error(`${back.length} of the killed worker's ${victims.length} clients reconnected and resubscribed in 10 s`);
      }
    }
    for (const c of victims) {
      if (!drops.has(c)) throw new Error(`${before.get(c)}: its connection never dropped`);
    }
    await sleep(300); // the new connections' workers subscribe to news' subject
  },
  async after() {
    for (let i = 0; i < 3; i++) {
      await delivered(`after-${i}`, on(all, 'news'), (tag) => sdk.trigger('news', 'ev', { tag }));
    }
  },
  async 'others-never-dropped'() {
    for (const c of others) {
      if (drops.has(c)) throw new Error(`${before.get(c)} (node ${nodeOf(before.get(c))}) went ${drops.get(c)}`);
      eq(id(c), before.get(c), 'socket id of a client of a worker not killed');
    }
  },
  ...noLateDuplicates,
};

const localTags = []; const localOf = new Map();

const outage = {
  ...newsSetup('o'),
  async cross() {
    await delivered('cross', on(all, 'news'), (tag) => sdk.trigger('news', 'ev', { tag }));
  },
  // With NATS down, each trigger reaches exactly the clients of the
  // worker that took the request; triggers go on until both did.
  async 'nats-down'() {
    await control('/nats/stop', {});
    const seen = new Set();
    for (let i = 0; i < 30 && seen.size < cfg.servers[0].nodes.length; i++) {
      const tag = newTag('local');
      await sdk.trigger('news', 'ev', { tag });
      let first;
      for (const deadline = Date.now() + 3000; !(first = all.find((c) => count(c, tag, 'news') > 0)); await sleep(20)) {
        if (Date.now() > deadline) throw new Error(`${tag}: no client got it`);
      }
      const local = all.filter((c) => node(c) === node(first));
      for (const deadline = Date.now() + 3000; local.some((c) => count(c, tag, 'news') === 0); await sleep(20)) {
        if (Date.now() > deadline) throw new Error(`${tag}: not every client of node ${node(first)} got it`);
      }
      await sleep(SETTLE_MS);
      exactly(tag, on(local, 'news'));
      localTags.push(tag);
      localOf.set(tag, local);
      seen.add(node(first));
    }
    eq([...seen].sort(), cfg.servers[0].nodes, 'the nodes that delivered locally');
  },
  async 'nats-up'() {
    await control('/nats/start', {});
    await sleep(500); // the workers' subscriptions go back to the server
    for (let i = 0; i < 3; i++) {
      await delivered(`recovered-${i}`, on(all, 'news'), (tag) => sdk.trigger('news', 'ev', { tag }));
    }
  },
  // An event published during the outage may reach the other worker's
  // clients once NATS is back (nats.go keeps what is published while it
  // reconnects): late, but never twice.
  async 'no-late-duplicates'() {
    await sleep(SETTLE_MS);
    for (const [tag, want] of checked) exactly(tag, want);
    const late = [];
    for (const tag of localTags) {
      for (const c of all) {
        const n = count(c, tag, 'news');
        if (n > 1) throw new Error(`${tag}: ${id(c)} got it ${n} times`);
        if (n === 1 && !localOf.get(tag).includes(c)) late.push(`${tag} at ${id(c)}`);
      }
    }
    if (late.length) console.error(`events of the outage delivered after it: ${late.join(', ')}`);
  },
};

const machines = {
  async spread() {
    all = [...await spread(0, 2, (i) => `m1-${i}`), ...await spread(1, 2, (i) => `m2-${i}`)];
  },
  subscribe: subscribeAll,
  async 'trigger-machine-1'() {
    await delivered('via-1', on(all, 'news'), (tag) => sdks[0].trigger('news', 'ev', { tag }));
    const x = all.at(-1); // a client of machine 2
    await delivered('via-1-except', [...on(all.filter((c) => c !== x), 'news'), ...on(pres.filter((c) => c !== x), 'presence-lobby')],
      (tag) => sdks[0].trigger(['news', 'presence-lobby'], 'ev', { tag }, { socket_id: id(x) }));
  },
  async 'trigger-machine-2'() {
    await delivered('via-2', on(all, 'news'), (tag) => sdks[1].triggerBatch([{ channel: 'news', name: 'ev', data: { tag } }]));
  },
  queries: channelQueries,
  async 'send-to-user'() {
    await sendToUser(cfg.servers[0].nodes, 0, cfg.servers[1].nodes, 1);
  },
  ...noLateDuplicates,
};

// presence mode: observers, one per node, watch user alice come with tabs
// on two nodes and go.
let observers = []; let tabs = []; const memberEvents = new Map();

// watched is the user whose member events the observers count.
let watched = 'alice';

function watchMembers(c, ch) {
  const ev = { added: 0, removed: 0 };
  memberEvents.set(c, ev);
  ch.bind('pusher:member_added', (m) => { if (m.id === watched) ev.added++; });
  ch.bind('pusher:member_removed', (m) => { if (m.id === watched) ev.removed++; });
}

// memberCounts checks that every observer saw the watched user added, and
// removed, the times given (undefined: not checked).
function memberCounts(what, added, removed) {
  const bad = observers.filter((c) => {
    const ev = memberEvents.get(c);
    return (added !== undefined && ev.added !== added) || (removed !== undefined && ev.removed !== removed);
  }).map((c) => `observer on node ${node(c)}: member_added ${memberEvents.get(c).added}, member_removed ${memberEvents.get(c).removed}`);
  if (bad.length) throw new Error(`${what}: want member_added ${added ?? 'any'}, member_removed ${removed ?? 'any'} for ${watched}: ${bad.join('; ')}`);
}

const members = (ch) => Object.keys(ch.members.members).sort();

const presence = {
  async spread() {
    const ns = cfg.servers[0].nodes;
    observers = await Promise.all(ns.map((n, i) => onNodes(`obs-${i}`, [n]).then(([c]) => c)));
    for (const c of observers) watchMembers(c, await subscribed(c.p, 'presence-room'));
  },
  async 'member-added-once'() {
    tabs = await onNodes('alice', cfg.servers[0].nodes.slice(0, 2));
    await subscribed(tabs[0].p, 'presence-room');
    await sleep(300);
    await subscribed(tabs[1].p, 'presence-room');
    await sleep(1000);
    memberCounts('two tabs on two workers', 1, 0);
  },
  async 'presence-list'() {
    const want = [...observers.map((c) => c.user), 'alice'].sort();
    for (const c of [...observers, ...tabs]) {
      eq(members(c.p.channel('presence-room')), want, `the members seen by ${c.user} on node ${node(c)}`);
    }
    await same('users', () => sdk.get({ path: '/channels/presence-room/users' }), { users: want }, sortUsers);
    await same('user_count', () => sdk.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } }),
      { occupied: true, user_count: want.length, subscription_count: observers.length + tabs.length });
  },
  async 'member-removed-once'() {
    close(tabs[0]);
    await sleep(1000);
    memberCounts('first tab closed', undefined, 0);
    close(tabs[1]);
    for (const deadline = Date.now() + 5000; observers.some((c) => memberEvents.get(c).removed === 0); await sleep(50)) {
      if (Date.now() > deadline) break;
    }
    await sleep(SETTLE_MS);
    memberCounts('last tab closed', undefined, 1);
  },
};

// presence-kill mode: dave's only tab is on the worker killed, the
// observers on the two others.
let dave; let killed;

const presenceKill = {
  async spread() {
    watched = 'dave';
    const ns = cfg.servers[0].nodes;
    observers = await Promise.all(ns.slice(0, 2).map((n, i) => onNodes(`obs-${i}`, [n]).then(([c]) => c)));
    for (const c of observers) watchMembers(c, await subscribed(c.p, 'presence-kill'));
    [dave] = await onNodes('dave', [ns[2]]);
  },
  async 'member-added'() {
    await subscribed(dave.p, 'presence-kill');
    await subscribed(dave.p, 'dave-only');
    await sleep(1000);
    memberCounts('dave joined', 1, 0);
    await hooksExactly('channel_occupied', 'dave-only', '', Date.now() + 5000);
  },
  async kill() {
    clients = clients.filter((c) => c !== dave);
    // The tab goes with its worker: its connection manager never connects
    // again.
    dave.p.connection.connect = () => {};
    await control('/kill', { node: node(dave) });
    killed = Date.now();
    await sleep(500);
    // (The state stays 'connected': connect sets 'connecting'.)
    if (dave.p.connection.connection) throw new Error(`dave still has a connection, ${id(dave)}`);
  },
  // A node silent for 3 s is dead (cluster/doc.go), and its members leave.
  async 'member-removed-once'() {
    for (const deadline = killed + 8000; observers.some((c) => memberEvents.get(c).removed === 0); await sleep(50)) {
      if (Date.now() > deadline) break;
    }
    await sleep(1000);
    memberCounts('dave\'s worker killed', undefined, 1);
  },
  async 'presence-list'() {
    const want = observers.map((c) => c.user).sort();
    await same('users', () => sdk.get({ path: '/channels/presence-kill/users' }), { users: want }, sortUsers);
    await same('dave-only', () => sdk.get({ path: '/channels/dave-only' }), { occupied: false });
    for (const c of observers) eq(members(c.p.channel('presence-kill')), want, `the members seen by ${c.user} on node ${node(c)}`);
  },
  async 'member-removed-webhook-once'() {
    await hooksExactly('member_removed', 'presence-kill', 'dave', killed + 12000);
  },
  async 'vacated-webhook-once'() {
    await hooksExactly('channel_vacated', 'dave-only', '', killed + 12000);
  },
};

// webhooks mode: the test's server keeps the webhooks it received.
async function hooks(name, channel, user) {
  const r = await fetch(`${cfg.control}/hooks`);
  const { events, bad } = await r.json();
  if (bad && bad.length) throw new Error(`webhooks refused: ${bad.join('; ')}`);
  return (events || []).filter((e) => e.name === name && e.channel === channel && (!user || e.user_id === user)).length;
}

// hooksExactly waits until the time until (ms since the epoch) at most for
// one webhook (name, channel, user), then a second more for a duplicate,
// and checks there is exactly one.
async function hooksExactly(name, channel, user, until) {
  while (await hooks(name, channel, user) === 0 && Date.now() < until) await sleep(100);
  await sleep(1000);
  eq(await hooks(name, channel, user), 1, `${name} webhooks for ${channel}${user ? ` (${user})` : ''}`);
}

let hookSubs = [];

const webhooks = {
  async spread() {
    hookSubs = await onNodes('hook', cfg.servers[0].nodes);
  },
  async 'occupied-once'() {
    for (const c of hookSubs) {
      await subscribed(c.p, 'hook-news');
      await sleep(200);
    }
    await hooksExactly('channel_occupied', 'hook-news', '', Date.now() + 5000);
  },
  // channel_vacated waits 3 s (push.DefaultWebhookDelay) for a new
  // subscriber to cancel it.
  async 'vacated-once'() {
    for (const c of hookSubs.slice(0, -1)) c.p.unsubscribe('hook-news');
    await sleep(4500);
    eq(await hooks('channel_vacated', 'hook-news', ''), 0, 'channel_vacated webhooks while a subscriber remains');
    hookSubs.at(-1).p.unsubscribe('hook-news');
    await hooksExactly('channel_vacated', 'hook-news', '', Date.now() + 8000);
  },
  async 'member-webhooks-once'() {
    const tabs = await onNodes('bob', cfg.servers[0].nodes.slice(0, 2));
    for (const c of tabs) {
      await subscribed(c.p, 'presence-hooks');
      await sleep(200);
    }
    await hooksExactly('member_added', 'presence-hooks', 'bob', Date.now() + 5000);
    close(tabs[0]);
    await sleep(4500);
    eq(await hooks('member_removed', 'presence-hooks', 'bob'), 0, 'member_removed webhooks while a tab remains');
    close(tabs[1]);
    await hooksExactly('member_removed', 'presence-hooks', 'bob', Date.now() + 8000);
  },
};

// gateway-bind mode: facade requests naming a socket, on new connections,
// whichever worker takes them.
const gatewayBind = {
  async spread() {
    all = await spread(0, 1, (i) => `b${i}`);
  },
  async 'bind-uid-any-worker'() {
    for (const c of all) {
      for (let i = 0; i < 4; i++) await post('bind_uid', { socket_id: id(c), uid: `bound-${node(c)}` });
    }
  },
  async 'join-group-any-worker'() {
    for (const c of all) {
      for (let i = 0; i < 4; i++) await post('join_group', { socket_id: id(c), group: 'any-worker' });
    }
    await same('group', () => sdk.get({ path: '/gateway/groups/any-worker' }), all.length, (a) => a.count);
  },
};

// echo mode: Laravel Echos spread over the workers, listening as a
// Laravel front end does (listen('ClusterEvent') for
// App\Events\ClusterEvent, listenForWhisper, here, joining, leaving).
const ECHO_EVENT = 'App\\Events\\ClusterEvent';
const whisperers = new Map(); // tag → the user_ids its whisper arrived with

// echoListen counts, at client c, the ClusterEvents and the typing
// whispers on the Echo channel ch (whose name is Pusher's: private-…,
// presence-…), and resolves once ch is subscribed.
function echoListen(c, ch) {
  ch.listen('ClusterEvent', (e) => record(c, e, ch.name));
  ch.listenForWhisper('typing', (e, meta) => {
    record(c, e, ch.name);
    if (e && e.tag) whisperers.set(e.tag, [...(whisperers.get(e.tag) || []), meta && meta.user_id]);
  });
  return echoSubscribed(ch);
}

// byNode returns the clients of list whose index among the clients of
// their node passes keep.
const byNode = (list, keep) => list.filter((c) => keep(list.filter((x) => node(x) === node(c)).indexOf(c)));

// workerCounts checks that the binary's own wssd_connections_open, by
// worker, counts the clients by the node in their socket ids (worker i
// is node i).
async function workerCounts() {
  const open = await (await fetch(`${cfg.control}/metrics/wssd_connections_open`)).json();
  const want = Object.fromEntries(cfg.servers[0].nodes.map((n) => [String(n), clients.filter((c) => node(c) === n).length]));
  eq(Object.fromEntries(Object.keys(open).sort().map((w) => [w, open[w]])), want, 'wssd_connections_open by worker');
}

const everyChannel = () => [...on(all, 'news'), ...on(priv, 'private-team'), ...on(pres, 'presence-lobby')];

const echoMode = {
  async spread() {
    all = await spread(0, 3, (i) => `user-${i + 1}`, connectEcho);
    await workerCounts();
  },
  // Every Echo listens on news; two per node on private-team and
  // presence-lobby.
  async subscribe() {
    priv = byNode(all, (i) => i < 2);
    pres = byNode(all, (i) => i < 2);
    await Promise.all([
      ...all.map((c) => echoListen(c, c.echo.channel('news'))),
      ...priv.map((c) => echoListen(c, c.echo.private('team'))),
      ...pres.map((c) => echoListen(c, c.echo.join('lobby'))),
    ]);
    await sleep(300);
  },
  // Laravel's broadcast() of App\Events\ClusterEvent on the three
  // channels, several times: each through the SDK on a new connection.
  async trigger() {
    const tags = Array.from({ length: 12 }, () => newTag('echo'));
    await deliveredAll(Object.fromEntries(tags.map((tag) => [tag, everyChannel()])), async () => {
      for (const tag of tags) await sdk.trigger(['news', 'private-team', 'presence-lobby'], ECHO_EVENT, { tag });
    });
  },
  async 'trigger-batch'() {
    const batches = Array.from({ length: 9 }, () => [newTag('echo-batch'), newTag('echo-batch'), newTag('echo-batch')]);
    const wants = {};
    for (const [a, b, c] of batches) Object.assign(wants, { [a]: on(all, 'news'), [b]: on(priv, 'private-team'), [c]: on(pres, 'presence-lobby') });
    await deliveredAll(wants, async () => {
      for (const [a, b, c] of batches) {
        const res = await sdk.triggerBatch([
          { channel: 'news', name: ECHO_EVENT, data: { tag: a } },
          { channel: 'private-team', name: ECHO_EVENT, data: { tag: b } },
          { channel: 'presence-lobby', name: ECHO_EVENT, data: { tag: c } },
        ]);
        eq(res.status, 200, 'batch status');
      }
    });
  },
  // broadcast(...)->toOthers(): the socket id of an Echo on each node in
  // turn is excluded.
  async 'to-others'() {
    for (const n of cfg.servers[0].nodes) {
      const x = pres.find((c) => node(c) === n);
      await delivered(`to-others-${n}`, everyChannel().filter(([c]) => c !== x),
        (tag) => sdk.trigger(['news', 'private-team', 'presence-lobby'], ECHO_EVENT, { tag }, { socket_id: x.echo.socketId() }));
    }
  },
  // An Echo on each node whispers on presence-lobby and private-team: every
  // other member on every worker gets it once (on the presence channel with
  // the sender's user_id), the sender none.
  async whisper() {
    for (const n of cfg.servers[0].nodes) {
      const x = pres.find((c) => node(c) === n && priv.includes(c));
      const [a, b] = [newTag(`whisper-${n}`), newTag(`whisper-${n}`)];
      await deliveredAll({ [a]: on(pres.filter((c) => c !== x), 'presence-lobby'), [b]: on(priv.filter((c) => c !== x), 'private-team') }, async () => {
        x.echo.join('lobby').whisper('typing', { tag: a });
        x.echo.private('team').whisper('typing', { tag: b });
      });
      const id = String(cfg.users[x.user].id);
      eq(whisperers.get(a), Array(pres.length - 1).fill(id), `the user_id of ${a} at its receivers`);
    }
  },
  // One Echo per node joins presence-chat in turn: here() lists the members
  // who joined on every worker before it, each earlier one gets joining()
  // once for it. The first member's user opens a second tab on another
  // worker, which joins and leaves without a joining() or leaving()
  // anywhere; when the member of the second node disconnects, the others
  // get leaving() once.
  async presence() {
    const joiners = cfg.servers[0].nodes.map((n) => all.find((c) => node(c) === n));
    const info = (c) => cfg.users[c.user];
    const seen = new Map();
    for (const [k, c] of joiners.entries()) {
      const s = { joining: [], leaving: [] };
      seen.set(c, s);
      const ch = c.echo.join('chat');
      const here = new Promise((resolve) => ch.here(resolve));
      ch.joining((u) => s.joining.push(u)).leaving((u) => s.leaving.push(u));
      eq(byID(await here), byID(joiners.slice(0, k + 1).map(info)), `here() of the member on node ${node(c)}`);
      const earlier = joiners.slice(0, k);
      for (const deadline = Date.now() + 5000; earlier.some((e) => !seen.get(e).joining.some((u) => u.id === info(c).id)); await sleep(20)) {
        if (Date.now() > deadline) throw new Error(`joining() of the member on node ${node(c)} missing after 5 s`);
      }
    }
    const [tab] = await onNodes(joiners[0].user, [cfg.servers[0].nodes.find((n) => n !== node(joiners[0]))], 0, connectEcho);
    const tabHere = new Promise((resolve) => tab.echo.join('chat').here(resolve));
    eq(byID(await tabHere), byID(joiners.map(info)), `here() of the second tab, on node ${node(tab)}`);
    await sleep(SETTLE_MS);
    close(tab);
    await sleep(SETTLE_MS);
    const gone = joiners[1];
    close(gone);
    const stay = joiners.filter((c) => c !== gone);
    for (const deadline = Date.now() + 5000; stay.some((c) => seen.get(c).leaving.length === 0); await sleep(20)) {
      if (Date.now() > deadline) throw new Error('leaving() missing after 5 s');
    }
    await sleep(SETTLE_MS);
    for (const [k, c] of joiners.entries()) {
      if (c === gone) continue;
      eq(seen.get(c).joining, joiners.slice(k + 1).map(info), `joining() at the member on node ${node(c)}`);
      eq(seen.get(c).leaving, [info(gone)], `leaving() at the member on node ${node(c)}`);
    }
  },
  ...noLateDuplicates,
};

// php mode: pusher-js clients spread over the workers; the test's PHP
// script, run through the control server, triggers tagged events and
// checks the API's answers against the expected cluster-wide values.
const php = {
  async spread() {
    all = await spread(0, 2, (i) => `p${i}`);
    await workerCounts();
  },
  subscribe: subscribeAll,
  async 'php-delivered'() {
    const requests = 24;
    const triggers = Array.from({ length: requests }, () => newTag('php'));
    const batches = Array.from({ length: requests }, () => [newTag('php-batch'), newTag('php-batch'), newTag('php-batch')]);
    const wants = Object.fromEntries(triggers.map((tag) => [tag, everyChannel()]));
    for (const [a, b, c] of batches) Object.assign(wants, { [a]: on(all, 'news'), [b]: on(priv, 'private-team'), [c]: on(pres, 'presence-lobby') });
    await deliveredAll(wants, () => control('/php', {
      requests, triggers, batches,
      subscriptions: { news: all.length, 'private-team': priv.length, 'presence-lobby': pres.length },
      users: [...new Set(pres.map((c) => c.user))].sort(),
    }));
  },
  ...noLateDuplicates,
};

const byID = (users) => [...users].sort((a, b) => a.id - b.id);

const modes = {
  delivery, kill, outage, machines, presence, webhooks, 'gateway-bind': gatewayBind, 'presence-kill': presenceKill,
  echo: echoMode, php,
};
const checks = modes[cfg.mode];
if (!checks) throw new Error(`unknown mode ${cfg.mode}`);
const [client, clientVersion] = cfg.mode === 'echo' ? ['laravel-echo', echoVersion] : ['pusher-js', version];
await runChecks(client, clientVersion, checks, () => { for (const c of clients) c.p.disconnect(); });
