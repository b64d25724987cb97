#!/usr/bin/env bash
# setup.sh installs what wssd's interop tests need on a Debian machine:
# Debian's python3-websockets (for /usr/bin/python3), Node.js with npm, the
# npm packages pinned in node/package-lock.json (ws, pusher-js, pusher, tweetnacl,
# laravel-echo), Chromium (the browser tests)
# openssl (the s_client test), testssl.sh (the TLS scan of the wssd
# binary), and nginx, Apache, HAProxy and systemd's
# tools (the proxy tests, which start their own proxy processes and never the
# system services), and php-cli with php-curl (the PHP script that calls the
# Gateway facade with curl and hash_hmac). It installs only what is missing, with at
# most one apt-get update, so running it again changes nothing. Go and the Go
# clients need nothing here: go test fetches them through the module proxy.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

sudo=()
if [[ $(id -u) != 0 ]]; then
	sudo=(sudo)
fi

missing=()
if ! /usr/bin/python3 -c 'import websockets' 2>/dev/null; then
	missing+=(python3-websockets)
fi
if ! command -v node >/dev/null; then
	missing+=(nodejs)
fi
if ! command -v npm >/dev/null; then
	missing+=(npm)
fi
if ! command -v chromium >/dev/null; then
	missing+=(chromium)
fi
if ! command -v openssl >/dev/null; then
	missing+=(openssl)
fi
if ! command -v testssl >/dev/null; then
	missing+=(testssl.sh)
fi
for pkg in nginx apache2 haproxy; do
	if [[ ! -x /usr/sbin/$pkg ]]; then
		missing+=("$pkg")
	fi
done
if ! command -v systemd-analyze >/dev/null; then
	missing+=(systemd)
fi
if ! command -v php >/dev/null; then
	missing+=(php-cli)
fi
if ! php -r 'exit(function_exists("curl_init") ? 0 : 1);' 2>/dev/null; then
	missing+=(php-curl)
fi
if ((${#missing[@]} > 0)); then
	echo "interop/setup.sh: installing ${missing[*]}"
	"${sudo[@]}" apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm ci only when node_modules lacks a package of package.json at the
# version package-lock.json pins (ws, pusher-js, pusher, tweetnacl, laravel-echo).
cd node
stale=$(node -e '
const lock = require("./package-lock.json").packages;
for (const name of Object.keys(require("./package.json").dependencies)) {
  let v = "";
  try { v = require("./node_modules/" + name + "/package.json").version; } catch {}
  if (v !== lock["node_modules/" + name].version) console.log(name);
}')
if [[ -n $stale ]]; then
	echo "interop/setup.sh: npm ci ($(echo $stale))"
	npm ci --no-audit --no-fund
fi
locked=$(node -p 'require("./package-lock.json").packages["node_modules/ws"].version')
echo "interop/setup.sh: python3-websockets $(/usr/bin/python3 -c 'import websockets; print(websockets.__version__)'), node $(node --version), ws $locked, pusher-js $(node -p 'require("./package-lock.json").packages["node_modules/pusher-js"].version'), laravel-echo $(node -p 'require("./package-lock.json").packages["node_modules/laravel-echo"].version')"
echo "interop/setup.sh: $(chromium --version 2>/dev/null), $(openssl version), testssl.sh $(dpkg-query -W -f '${Version}' testssl.sh 2>/dev/null || echo '?')"
echo "interop/setup.sh: $(php -r 'echo "php ", PHP_VERSION, ", curl ", curl_version()["version"];')"
echo "interop/setup.sh: $(/usr/sbin/nginx -v 2>&1), $(/usr/sbin/apache2 -v | head -1), $(/usr/sbin/haproxy -v | head -1)"
