<?php
// Interop client for wssd's Gateway facade: what a PHP back end that used
// GatewayWorker's Gateway::bindUid / isUidOnline / sendToUid does, with
// php-cli, php-curl and hash_hmac only (no SDK).
//
// Usage: php gateway.php CONFIG_JSON
//
// CONFIG_JSON: {"appId","key","secret","base" (http(s)://host:port),
// "socketId" (a connection the test holds), "uid", "cafile" (over TLS)}.
// Prints one JSON line, {"client":"php","version","results":[{"name","ok","error"}]};
// the check names must match phpChecks in interop/pusher_api_test.go.

require __DIR__ . '/api.php';

$cfg = json_decode($argv[1], true);

$uid = $cfg['uid'];
$sid = $cfg['socketId'];
$checks = [
    'bind-uid' => fn() => expect(wssd($cfg, 'POST', '/gateway/bind_uid', ['socket_id' => $sid, 'uid' => $uid]), 200, [], 'bindUid'),
    'is-uid-online' => function () use ($cfg, $uid, $sid) {
        expect(wssd($cfg, 'GET', "/gateway/uids/$uid"), 200, ['online' => true, 'socket_ids' => [$sid]], 'isUidOnline');
        expect(wssd($cfg, 'GET', '/gateway/uids/nobody'), 200, ['online' => false, 'socket_ids' => []], 'isUidOnline(nobody)');
    },
    'send-to-uid' => fn() => expect(wssd($cfg, 'POST', '/gateway/send_to_uid',
        ['uid' => $uid, 'event' => 'from-php', 'data' => json_encode(['text' => 'hello from PHP'])]), 200, [], 'sendToUid'),
    'bad-secret' => fn() => expect(wssd(['secret' => 'wrong'] + $cfg, 'GET', '/gateway/count'),
        401, ['error' => 'push: auth_signature missing or wrong'], 'wrong secret'),
];

run_checks($checks);
