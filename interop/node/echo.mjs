// Interop client for wssd's push server: Laravel Echo with pusher-js in
// Node, as a Laravel front end uses it (broadcaster 'pusher'), against the
// test's stand-in for a Laravel back end: its /broadcasting/auth signs
// channels for the user of the bearer token, as Laravel's
// Broadcast::routes() with routes/channels.php would, and its /trigger
// sends events named as Laravel broadcasts them.
//
// Usage: node echo.mjs CONFIG_JSON
//
// CONFIG_JSON: {"key","host","port","tls" (bool),"control" (URL of the
// test's control server),"masterKey" (base64, the app's encryption master
// key)}. Over TLS, Node trusts the CA in
// NODE_EXTRA_CA_CERTS. The control server answers POST /broadcasting/auth
// (a form with socket_id and channel_name; "Authorization: Bearer TOKEN",
// ann-token for user 1 Ann and bob-token for user 2 Bob) and triggers
// events through wssd's Go API: POST /trigger {channels,event,data,socket_id}.
//
// Prints one JSON line, {"client":"laravel-echo","version","results":[{"name","ok","error"}]},
// and exits 0 if every check passed, 1 otherwise. The check names must
// match interop/echo_test.go.

import { readFileSync } from 'node:fs';
import Echo from 'laravel-echo';
import PusherJS from 'pusher-js';
import { controller, echoSubscribed, encrypted, eq, laravelEcho, runChecks } from './checks.mjs';

const version = JSON.parse(readFileSync(new URL('./node_modules/laravel-echo/package.json', import.meta.url))).version;
const cfg = JSON.parse(process.argv[2]);

const ANN = { id: 1, name: 'Ann' };
const BOB = { id: 2, name: 'Bob' };

// echo returns a Laravel Echo of the user whose bearer token is given.
function echo(token) {
  const e = laravelEcho(Echo, PusherJS, cfg, token);
  opened.push(e);
  return e;
}
const opened = [];

// on resolves with the first value passed to the callback that register
// installs.
function on(register) {
  return new Promise((resolve) => register((...args) => resolve(args)));
}

const control = controller(cfg.control);

// broadcast does what Laravel's PusherBroadcaster does: the event's name
// (its class, or broadcastAs()) and its payload as JSON.
function broadcast(channels, event, payload, socketId = '') {
  return control('/trigger', { channels, event, data: JSON.stringify(payload), socket_id: socketId });
}

// never fails if the callback that register installs is called within ms.
function never(register, ms, what) {
  return new Promise((resolve, reject) => {
    register((...args) => reject(new Error(`unexpected ${what}: ${JSON.stringify(args)}`)));
    setTimeout(resolve, ms);
  });
}

const byID = (users) => [...users].sort((a, b) => a.id - b.id);

const checks = {
  // Echo.channel(...).listen('OrderShipped') takes App\Events\OrderShipped
  // (Echo's default namespace App.Events), .listen('.order.shipped') an
  // event named by broadcastAs(); the other listener gets neither.
  async 'public-listen'() {
    const e = echo('');
    const ch = await echoSubscribed(e.channel('orders'));
    const shipped = on((cb) => ch.listen('OrderShipped', cb));
    const custom = on((cb) => ch.listen('.order.shipped', cb));
    await broadcast(['orders'], 'App\\Events\\OrderShipped', { order: { id: 7 } });
    eq((await shipped)[0], { order: { id: 7 } }, 'OrderShipped');
    const notShipped = never((cb) => ch.listen('OrderShipped', cb), 300, 'OrderShipped for order.shipped');
    await broadcast(['orders'], 'order.shipped', { order: { id: 8 } });
    eq((await custom)[0], { order: { id: 8 } }, '.order.shipped');
    await notShipped;
    e.disconnect();
  },

  // Echo.private('orders.7') subscribes to private-orders.7 through
  // /broadcasting/auth with the bearer token; Bob may not have Ann's
  // notifications channel (403), Ann gets her notification.
  async private() {
    const ann = echo('ann-token');
    const bob = echo('bob-token');
    const orders = await echoSubscribed(ann.private('orders.7'));
    eq(orders.name, 'private-orders.7', 'channel name');
    const got = on((cb) => orders.listen('OrderShipped', cb));
    await broadcast(['private-orders.7'], 'App\\Events\\OrderShipped', { order: { id: 7 } });
    eq((await got)[0], { order: { id: 7 } }, 'OrderShipped on the private channel');

    const refused = on((cb) => bob.private('App.Models.User.1').error(cb));
    const user = await echoSubscribed(ann.private('App.Models.User.1'));
    const note = on((cb) => user.notification(cb));
    await broadcast(['private-App.Models.User.1'], 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated',
      { amount: 30, id: 'b2a2c2c0-0000-4000-8000-000000000001', type: 'App\\Notifications\\InvoicePaid' });
    eq((await note)[0], { amount: 30, id: 'b2a2c2c0-0000-4000-8000-000000000001', type: 'App\\Notifications\\InvoicePaid' }, 'notification');
    const err = (await refused)[0];
    eq({ type: err.type, status: err.status }, { type: 'AuthError', status: 403 }, "Bob on Ann's channel");
    ann.disconnect(); bob.disconnect();
  },

  // Echo.encryptedPrivate('vault.1') gets the channel's shared_secret from
  // /broadcasting/auth and decrypts an event encrypted as pusher-php-server
  // encrypts it for Laravel (secretbox with the key derived from the master
  // key); the push server relays the ciphertext.
  async encrypted() {
    const ann = echo('ann-token');
    const vault = await echoSubscribed(ann.encryptedPrivate('vault.1'));
    eq(vault.name, 'private-encrypted-vault.1', 'channel name');
    const got = on((cb) => vault.listen('OrderShipped', cb));
    await control('/trigger', {
      channels: [vault.name], event: 'App\\Events\\OrderShipped',
      data: encrypted(vault.name, cfg.masterKey, { order: { id: 9 } }),
    });
    eq((await got)[0], { order: { id: 9 } }, 'decrypted OrderShipped');
    ann.disconnect();
  },

  // Echo.join('chat.1'): here() lists the members, joining() and leaving()
  // report the other user, with the user_info Laravel's channel callback
  // returned.
  async presence() {
    const ann = echo('ann-token');
    const annHere = on((cb) => ann.join('chat.1').here(cb));
    eq(byID((await annHere)[0]), [ANN], "Ann's here");
    const joining = on((cb) => ann.join('chat.1').joining(cb));
    const leaving = on((cb) => ann.join('chat.1').leaving(cb));

    const bob = echo('bob-token');
    const bobHere = on((cb) => bob.join('chat.1').here(cb));
    eq(byID((await bobHere)[0]), [ANN, BOB], "Bob's here");
    eq((await joining)[0], BOB, 'joining');
    bob.disconnect();
    eq((await leaving)[0], BOB, 'leaving');
    ann.disconnect();
  },

  // whisper sends a client event: the other member gets it, with the
  // sender's user_id, and the sender does not.
  async whisper() {
    const ann = echo('ann-token');
    const bob = echo('bob-token');
    const [a, b] = await Promise.all([echoSubscribed(ann.join('chat.2')), echoSubscribed(bob.join('chat.2'))]);
    const got = on((cb) => b.listenForWhisper('typing', cb));
    const notEchoed = never((cb) => a.listenForWhisper('typing', cb), 300, 'whisper echoed to its sender');
    a.whisper('typing', { name: 'Ann' });
    const [data, meta] = await got;
    eq(data, { name: 'Ann' }, 'whisper');
    eq(meta && meta.user_id, '1', "the sender's user_id");
    await notEchoed;

    // and on a private channel, where there is no user_id
    const [pa, pb] = await Promise.all([echoSubscribed(ann.private('room.3')), echoSubscribed(bob.private('room.3'))]);
    const got2 = on((cb) => pa.listenForWhisper('typing', cb));
    pb.whisper('typing', { name: 'Bob' });
    eq((await got2)[0], { name: 'Bob' }, 'whisper on a private channel');
    ann.disconnect(); bob.disconnect();
  },

  // A trigger with the socket id of the Echo that caused it (Laravel's
  // broadcast(...)->toOthers(), from the X-Socket-ID header Echo adds)
  // reaches the others only.
  async 'to-others'() {
    const ann = echo('ann-token');
    const bob = echo('bob-token');
    const [a, b] = await Promise.all([echoSubscribed(ann.channel('feed')), echoSubscribed(bob.channel('feed'))]);
    const notAnn = never((cb) => a.listen('PostCreated', cb), 300, 'event to the excluded socket');
    const got = on((cb) => b.listen('PostCreated', cb));
    await broadcast(['feed'], 'App\\Events\\PostCreated', { post: { id: 1 } }, ann.socketId());
    eq((await got)[0], { post: { id: 1 } }, 'PostCreated');
    await notAnn;
    ann.disconnect(); bob.disconnect();
  },
};

await runChecks('laravel-echo', version, checks, () => { for (const e of opened) e.disconnect(); });
