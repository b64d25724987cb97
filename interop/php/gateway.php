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
// the check names must match interop/php_test.go.

$cfg = json_decode($argv[1], true);

// wssd signs a request to /apps/{id}/$path as Pusher's HTTP API does and
// returns [status, decoded JSON answer].
function wssd(array $cfg, string $method, string $path, ?array $body = null): array {
    $path = "/apps/{$cfg['appId']}$path";
    $json = $body === null ? '' : json_encode($body);
    $q = ['auth_key' => $cfg['key'], 'auth_timestamp' => time(), 'auth_version' => '1.0'];
    if ($json !== '') $q['body_md5'] = md5($json);
    ksort($q);
    $toSign = "$method\n$path\n" . urldecode(http_build_query($q));
    $q['auth_signature'] = hash_hmac('sha256', $toSign, $cfg['secret']);
    $ch = curl_init($cfg['base'] . $path . '?' . http_build_query($q));
    curl_setopt_array($ch, [CURLOPT_CUSTOMREQUEST => $method, CURLOPT_RETURNTRANSFER => true,
        CURLOPT_HTTPHEADER => ['Content-Type: application/json']]);
    if ($json !== '') curl_setopt($ch, CURLOPT_POSTFIELDS, $json);
    if (!empty($cfg['cafile'])) curl_setopt($ch, CURLOPT_CAINFO, $cfg['cafile']);
    $out = curl_exec($ch);
    if ($out === false) throw new RuntimeException('curl: ' . curl_error($ch));
    return [curl_getinfo($ch, CURLINFO_RESPONSE_CODE), json_decode($out, true)];
}

function expect(array $got, int $status, $body, string $what): void {
    if ($got[0] !== $status || $got[1] !== $body) {
        throw new RuntimeException("$what: got " . json_encode($got) . ', want ' . json_encode([$status, $body]));
    }
}

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

$results = [];
foreach ($checks as $name => $run) {
    try {
        $run();
        $results[] = ['name' => $name, 'ok' => true, 'error' => ''];
    } catch (Throwable $e) {
        fwrite(STDERR, "$name: {$e->getMessage()}\n");
        $results[] = ['name' => $name, 'ok' => false, 'error' => $e->getMessage()];
    }
}
echo json_encode(['client' => 'php', 'version' => PHP_VERSION . ' curl ' . curl_version()['version'], 'results' => $results]), "\n";
exit(count(array_filter($results, fn($r) => !$r['ok'])) === 0 ? 0 : 1);
