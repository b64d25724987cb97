<?php
// Interop client for wssd's cluster (-procs, NATS): what a PHP back end
// without an SDK does through the HTTP API, each request on a new
// connection, which the kernel hands to any worker. Its triggers and
// batches carry the tags the test gives, and the test's pusher-js clients
// on every worker count them; every answer to a query must be the
// cluster-wide one, whichever worker gave it.
//
// Usage: php cluster.php CONFIG_JSON
//
// CONFIG_JSON: {"appId","key","secret","base" (http(s)://host:port),
// "cafile" (over TLS), "requests" (how many times each query is asked),
// "triggers" (a tag per trigger to news, private-team and presence-lobby),
// "batches" (three tags per batch: for news, private-team, presence-lobby),
// "subscriptions" (channel => its subscription count, cluster-wide),
// "users" (the user ids on presence-lobby)}.
// Prints one JSON line, {"client":"php","version","results":[{"name","ok","error"}]};
// the check names must match phpClusterChecks in interop/cluster_test.go.

require __DIR__ . '/api.php';

$cfg = json_decode($argv[1], true);
$n = $cfg['requests'];
$subs = $cfg['subscriptions'];
$users = $cfg['users'];
const EVENT = 'App\Events\ClusterEvent';

// normalized returns $v with the keys of every array in it sorted, so
// that answers compare whatever order their JSON objects had.
function normalized($v) {
    if (!is_array($v)) return $v;
    $v = array_map('normalized', $v);
    if (!array_is_list($v)) ksort($v);
    return $v;
}

// asked sends the request $n times and checks every answer is [200, $want].
function asked(array $cfg, int $n, string $path, array $params, $want, string $what, ?callable $norm = null): void {
    for ($i = 1; $i <= $n; $i++) {
        $got = wssd($cfg, 'GET', $path, null, $params);
        if ($norm !== null && $got[0] === 200) $got[1] = $norm($got[1]);
        expect([$got[0], normalized($got[1])], 200, normalized($want), "$what (request $i of $n)");
    }
}

$checks = [
    'trigger' => function () use ($cfg) {
        foreach ($cfg['triggers'] as $tag) {
            expect(wssd($cfg, 'POST', '/events', ['name' => EVENT, 'channels' => ['news', 'private-team', 'presence-lobby'],
                'data' => json_encode(['tag' => $tag])]), 200, [], "trigger $tag");
        }
    },
    'trigger-batch' => function () use ($cfg) {
        foreach ($cfg['batches'] as [$a, $b, $c]) {
            expect(wssd($cfg, 'POST', '/batch_events', ['batch' => [
                ['channel' => 'news', 'name' => EVENT, 'data' => json_encode(['tag' => $a])],
                ['channel' => 'private-team', 'name' => EVENT, 'data' => json_encode(['tag' => $b])],
                ['channel' => 'presence-lobby', 'name' => EVENT, 'data' => json_encode(['tag' => $c])],
            ]]), 200, [], "batch $a $b $c");
        }
    },
    'channels' => function () use ($cfg, $n, $subs, $users) {
        asked($cfg, $n, '/channels', [], ['channels' => array_map(fn() => [], $subs)], 'channels');
        asked($cfg, $n, '/channels', ['filter_by_prefix' => 'presence-', 'info' => 'user_count'],
            ['channels' => ['presence-lobby' => ['user_count' => count($users)]]], 'presence channels with user_count');
    },
    'channel-info' => function () use ($cfg, $n, $subs, $users) {
        foreach ($subs as $channel => $count) {
            $want = ['occupied' => true, 'subscription_count' => $count];
            $info = 'subscription_count';
            if (str_starts_with($channel, 'presence-')) {
                $want['user_count'] = count($users);
                $info .= ',user_count';
            }
            asked($cfg, $n, "/channels/$channel", ['info' => $info], $want, $channel);
        }
        asked($cfg, $n, '/channels/nobody-here', [], ['occupied' => false], 'an empty channel');
    },
    'users' => function () use ($cfg, $n, $users) {
        $ids = function ($a) {
            $ids = array_map(fn($u) => $u['id'], $a['users'] ?? []);
            sort($ids);
            return ['users' => $ids];
        };
        asked($cfg, $n, '/channels/presence-lobby/users', [], ['users' => $users], 'users', $ids);
    },
];

run_checks($checks);
