// Interop client for wssd's push server: pusher-js in Node, authorized
// with Pusher's own server SDK (the `pusher` package), as an app's back end
// would authorize it.
//
// Usage: node pusher.mjs CONFIG_JSON
//
// CONFIG_JSON: {"key","secret","appId","masterKey" (base64),"host","port",
// "tls" (bool),"control" (URL of the test's control server)}. Over TLS,
// Node trusts the CA in NODE_EXTRA_CA_CERTS. The control server triggers
// events through wssd's Go API: POST /trigger {channels,event,data,socket_id}
// and POST /user {user_id,event,data}.
//
// Prints one JSON line, {"client":"pusher-js","version","results":[{"name","ok","error"}]},
// and exits 0 if every check passed, 1 otherwise. The check names must
// match interop/pusher_test.go.

import { createRequire } from 'node:module';
import { connected, controller, encrypted, eq, nothing, runChecks, subscribed } from './checks.mjs';

const require = createRequire(import.meta.url);
const PusherJS = require('pusher-js');
const PusherSDK = require('pusher');
const version = require('pusher-js/package.json').version;

const cfg = JSON.parse(process.argv[2]);
const sdk = new PusherSDK({
  appId: cfg.appId, key: cfg.key, secret: cfg.secret,
  encryptionMasterKeyBase64: cfg.masterKey,
});

// connect opens a pusher-js connection; user, if set, is the presence
// member and signed-in user its auth handlers vouch for.
function connect(user, watchlist) {
  const p = new PusherJS(cfg.key, {
    cluster: 'local',
    wsHost: cfg.host, wsPort: cfg.port, wssPort: cfg.port,
    forceTLS: cfg.tls, enabledTransports: ['ws'], disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, cb) => {
        try {
          const presence = channelName.startsWith('presence-')
            ? { user_id: user, user_info: { name: `name of ${user}` } } : undefined;
          cb(null, sdk.authorizeChannel(socketId, channelName, presence));
        } catch (e) { cb(e, null); }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, cb) => {
        const data = { id: user };
        if (watchlist) data.watchlist = watchlist;
        cb(null, sdk.authenticateUser(socketId, data));
      },
    },
  });
  opened.push(p);
  return p;
}
const opened = [];

// once resolves with the first emission of event on target.
function once(target, event) {
  return new Promise((resolve) => {
    const f = (data, meta) => { target.unbind(event, f); resolve({ data, meta }); };
    target.bind(event, f);
  });
}

const control = controller(cfg.control);

// triggered checks that an event the Go API triggers on the channel
// reaches a pusher-js subscriber, its data decoded.
async function triggered(name) {
  const p = connect('sub');
  await connected(p);
  const ch = await subscribed(p, name);
  const got = once(ch, 'created');
  await control('/trigger', { channels: [name], event: 'created', data: JSON.stringify({ id: 7 }) });
  eq((await got).data, { id: 7 }, `event on ${name}`);
  p.disconnect();
}

const checks = {
  public: () => triggered('news'),
  private: () => triggered('private-orders'),

  async encrypted() {
    const name = 'private-encrypted-vault';
    const p = connect('enc');
    await connected(p);
    const ch = await subscribed(p, name);
    const got = once(ch, 'secret');
    const data = encrypted(name, cfg.masterKey, { pin: 1234 });
    await control('/trigger', { channels: [name], event: 'secret', data });
    eq((await got).data, { pin: 1234 }, 'decrypted event');
    p.disconnect();
  },

  async 'presence-two-tabs'() {
    const name = 'presence-room';
    const w = connect('watcher');
    await connected(w);
    const wch = await subscribed(w, name);
    eq(wch.members.count, 1, 'members at first');
    const added = once(wch, 'pusher:member_added');
    const tab1 = connect('ann');
    await connected(tab1);
    const t1 = await subscribed(tab1, name);
    eq((await added).data, { id: 'ann', info: { name: 'name of ann' } }, 'member_added');
    eq(t1.members.me.id, 'ann', 'me');

    const noSecondAdd = nothing(wch, 'pusher:member_added', 300);
    const tab2 = connect('ann');
    await connected(tab2);
    const t2 = await subscribed(tab2, name);
    eq(t2.members.count, 2, 'members seen by the second tab');
    await noSecondAdd;

    const noRemove = nothing(wch, 'pusher:member_removed', 300);
    tab2.disconnect();
    await noRemove;
    eq(wch.members.count, 2, 'members after one tab left');

    const removed = once(wch, 'pusher:member_removed');
    tab1.disconnect();
    eq((await removed).data.id, 'ann', 'member_removed');
    eq(wch.members.count, 1, 'members after the last tab left');
    w.disconnect();
  },

  async 'client-events'() {
    const a = connect('ca');
    const b = connect('cb');
    await Promise.all([connected(a), connected(b)]);
    const [cha, chb] = await Promise.all([subscribed(a, 'presence-chat'), subscribed(b, 'presence-chat')]);
    const got = once(chb, 'client-typing');
    const notEchoed = nothing(cha, 'client-typing', 300);
    if (!cha.trigger('client-typing', { who: 'ca' })) throw new Error('trigger refused');
    const ev = await got;
    eq(ev.data, { who: 'ca' }, 'client event');
    eq(ev.meta.user_id, 'ca', 'user_id of the sender');
    await notEchoed;
    a.disconnect(); b.disconnect();
  },

  async 'signin-watchlist'() {
    const u1 = connect('u1', ['u2']);
    await connected(u1);
    u1.signin();
    await u1.user.signinDonePromise;
    eq(u1.user.user_data && u1.user.user_data.id, 'u1', 'signed in');
    const online = once(u1.user.watchlist, 'online');
    const u2 = connect('u2');
    await connected(u2);
    u2.signin();
    eq((await online).data.user_ids, ['u2'], 'online');
    const offline = once(u1.user.watchlist, 'offline');
    u2.disconnect();
    eq((await offline).data.user_ids, ['u2'], 'offline');
    u1.disconnect();
  },

  async 'send-to-user'() {
    const a = connect('dest');
    const b = connect('dest');
    await Promise.all([connected(a), connected(b)]);
    a.signin(); b.signin();
    await Promise.all([a.user.signinDonePromise, b.user.signinDonePromise]);
    // pusher-js joins #server-to-user-dest after signin_success.
    await Promise.all([a, b].map((p) => new Promise((resolve) => {
      const ch = p.user.serverToUserChannel;
      if (ch.subscribed) return resolve();
      ch.bind('pusher:subscription_succeeded', resolve);
    })));
    const got = Promise.all([once(a.user, 'note'), once(b.user, 'note')]);
    await control('/user', { user_id: 'dest', event: 'note', data: JSON.stringify({ text: 'hi' }) });
    for (const ev of await got) eq(ev.data, { text: 'hi' }, 'user event');
    a.disconnect(); b.disconnect();
  },
};

await runChecks('pusher-js', version, checks, () => { for (const p of opened) p.disconnect(); });
