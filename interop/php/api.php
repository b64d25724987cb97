<?php
// What the interop PHP scripts (gateway.php, cluster.php) share: wssd's
// HTTP API called as a PHP back end without an SDK would (php-cli,
// php-curl and hash_hmac only), and their check runner, whose report is
// one JSON line on stdout, {"client":"php","version","results":[{"name","ok","error"}]},
// with exit status 0 only if every check passed.

// wssd signs a request to /apps/{id}/$path, with the query parameters
// $params, as Pusher's HTTP API does, sends it on a new connection (a new
// curl handle), and returns [status, decoded JSON answer].
function wssd(array $cfg, string $method, string $path, ?array $body = null, array $params = []): array {
    $path = "/apps/{$cfg['appId']}$path";
    $json = $body === null ? '' : json_encode($body);
    $q = ['auth_key' => $cfg['key'], 'auth_timestamp' => time(), 'auth_version' => '1.0'] + $params;
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

// expect throws unless $got, a [status, answer] of wssd, is [$status, $body].
function expect(array $got, int $status, $body, string $what): void {
    if ($got[0] !== $status || $got[1] !== $body) {
        throw new RuntimeException("$what: got " . json_encode($got) . ', want ' . json_encode([$status, $body]));
    }
}

// run_checks runs $checks (name => callable) in order, prints the report
// and exits.
function run_checks(array $checks): void {
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
}
