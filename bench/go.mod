module github.com/wssd/wssd/bench

go 1.26.0

replace github.com/wssd/wssd => ../

require (
	github.com/HdrHistogram/hdrhistogram-go v1.2.0
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/lesismal/llib v1.1.13
	github.com/lesismal/nbio v1.5.12
	github.com/lxzan/gws v1.8.9
	github.com/panjf2000/gnet/v2 v2.10.0
	github.com/wssd/wssd v0.0.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/panjf2000/ants/v2 v2.12.1 // indirect
	github.com/pires/go-proxyproto v0.15.0 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/crypto v0.0.0-20210513122933-cd7d49e622d5 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.2.1 // indirect
)
