# wssd — see README.md. `make run` and `make test` work on a fresh clone.
GO      ?= go
BIN     ?= bin/wssd
ARGS    ?=
TLS     ?= -tls-dev .dev/tls
FUZZTIME ?= 30s
SOAK_ARGS ?=

.PHONY: build run test vet unit alloc interop benchsmoke fuzz clean bench bench-quick soak

build:
	$(GO) build -o $(BIN) ./cmd/wssd

# The main job on embedded defaults: the push server with a development app
# (kept in .dev/app.json) and its demo chat page, wss with a development
# certificate generated on first run into .dev/tls, on a printed address.
# `make run TLS=` serves plain ws instead.
run:
	$(GO) run ./cmd/wssd $(TLS) -dev-app .dev/app.json $(ARGS)

test: vet unit alloc interop benchsmoke

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# Allocation budgets hold only without -race (sync.Pool drops items under it).
alloc:
	$(GO) test -count=1 -run 'Alloc' ./...

# `go test` without a package list streams the output of a passing run, so
# the lines naming skipped clients (a component not installed) are seen.
interop:
	cd interop && $(GO) vet ./... && $(GO) test -race -count=1

# The bench harness with a few connections, so that it cannot rot.
benchsmoke:
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# wssd beside gorilla, gobwas, gws, nbio, coder and the raw gnet and crypto/tls
# ceilings, in one run (bench/README.md): results in bench/results/.
bench:
	cd bench && $(GO) run ./cmd/benchrun -mode full

# Into results/quick (not committed), so the committed full set stays.
bench-quick:
	cd bench && $(GO) run ./cmd/benchrun -mode quick -out results/quick

# 15,000 wss connections for 10 minutes beside hostile clients; fails if the
# server's memory, goroutines or files grow or an honest client loses a
# message (bench/README.md). Not part of `make test`. Shorter:
# make soak SOAK_ARGS='-duration 60s -conns 2000'; plain ws: SOAK_ARGS=-transport=ws
soak: build
	cd bench && $(GO) build -o ../bin/soak ./cmd/soak
	bin/soak -wssd $(BIN) $(SOAK_ARGS)

# Each fuzz target for FUZZTIME; the seeds alone already run in `make test`.
FUZZ_TARGETS = wsproto:FuzzParse wsproto:FuzzHandshake wsproto:FuzzUTF8 \
	wsproto:FuzzInflate wsproto:FuzzNegotiateDeflate \
	tlsconn:FuzzFeedSplit engine:FuzzProxyHeader engine:FuzzResolveClientIP \
	engine:FuzzConn engine:FuzzHTTPRequest push:FuzzAPIAuth push:FuzzProtocol push:FuzzAPI \
	cluster:FuzzSubject cluster:FuzzMessage cluster:FuzzEntry
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run XXX -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done
	cd bench && $(GO) test -run XXX -fuzz '^FuzzFrameReader$$' -fuzztime $(FUZZTIME) ./load
	cd bench && $(GO) test -run XXX -fuzz '^FuzzParseDeflateAnswer$$' -fuzztime $(FUZZTIME) ./load
	cd bench && $(GO) test -run XXX -fuzz '^FuzzPusherFrame$$' -fuzztime $(FUZZTIME) ./load
	cd bench && $(GO) test -run XXX -fuzz '^FuzzParseMetrics$$' -fuzztime $(FUZZTIME) ./runner

clean:
	rm -rf bin
