// Package push is a Pusher Channels server: protocol 7 on /app/{key}, so
// that pusher-js, Laravel Echo, the mobile SDKs and Pusher's server
// libraries work against it, and a Go API with a GatewayWorker-style
// facade. It runs over package engine: a [Server] is an engine.Handler.
//
// # Use
//
// Describe the apps with [NewApps], create the [Server] with [New], create
// the engine.Server with it as the handler, call [Server.Bind] so that
// fan-outs use the engine's prepared messages, and start the engine. The
// back end then calls [Server.Trigger], [Server.SendToUser],
// [Server.Channel] and the rest from any goroutine, or the [Gateway] of an
// app.
//
// # Protocol
//
// A connection to a URL that is not /app/{key} is closed with 4005, to an
// unknown key with 4001; without a protocol parameter with 4008, and with
// a version other than 4 to 7 with 4007, each after a pusher:error with
// the same code. Others get pusher:connection_established with a socket
// id ("17.0483920571": a counter, a dot, Config.Node and nine digits drawn
// when the process starts) and the activity timeout (120 s by default).
//
// Channels are public, private- (HMAC-SHA256 of "socket_id:channel"),
// private-encrypted- (the same; the server never sees the key), and
// presence- (also signed over channel_data exactly as received). A
// presence member is a user: a second connection of the same user adds
// no member_added and its first one leaving removes none. A cache-
// channel (cache-, private-cache-, private-encrypted-cache-,
// presence-cache-) replays its last event to each new subscriber, or
// sends pusher:cache_miss. pusher:signin (a signature over
// "socket_id::user::user_data") joins the connection to
// #server-to-user-{id}, which SendToUser reaches, and reports its
// watchlist's users online and offline.
//
// Client events (client-*) are relayed, when the app allows them, on the
// private and presence channels the sender joined, never back to it, with
// the sender's user_id on presence channels. Beyond the app's rate each
// is refused with pusher:error 4301, and a connection that sends another
// second's worth regardless is closed with 4301. Malformed, unknown and
// over-limit messages get a pusher:error without a code (the protocol
// assigns none) and the connection stays; refused subscriptions get
// pusher:subscription_error on the channel. A connection that reads too
// slowly for what it is sent is closed with 4100 ([Config] of the engine
// bounds its queue); TerminateUserConnections and Gateway.CloseSocket
// close with 4009.
//
// # HTTP API
//
// [Server.API] returns an http.Handler for engine.Config.HTTPHandler, so
// that one host and port (and one certificate) serve pusher-js and the
// back end, as at Pusher. Requests to /apps/{app_id}/... are signed as
// Pusher's HTTP API reference defines ([Credentials.VerifyRequest]); an
// unknown app is 404, a wrong method 405, a body over what the app's
// Limits let a batch hold 413, a bad signature, key or timestamp 401, a
// malformed query 400. Pusher's routes, answering as Pusher does (JSON on
// 200, the reason as text otherwise):
//
//	POST /apps/{app_id}/events               name, data (a string), channels or channel, socket_id, info → {} or {"channels":{…}}
//	POST /apps/{app_id}/batch_events         {"batch":[event, …]}, at most MaxBatchEvents → {} or {"batch":[{…}, …]}
//	GET  /apps/{app_id}/channels             filter_by_prefix, info=user_count (presence- prefix only),subscription_count
//	GET  /apps/{app_id}/channels/{channel}   info=user_count (presence only),subscription_count,cache → {"occupied":…}
//	GET  /apps/{app_id}/channels/{channel}/users                → {"users":[{"id":…}]} (presence only)
//	POST /apps/{app_id}/users/{user_id}/terminate_connections   → {}
//
// Data over MaxEventData is 413, as at Pusher; other limits and malformed
// bodies are 400. An event to "#server-to-user-{id}" alone is the SDKs'
// sendToUser. The [Gateway] facade, signed the same way, JSON in and out
// (errors as {"error": "…"}); each POST answers {}:
//
//	POST /apps/{app_id}/gateway/bind_uid       {"socket_id", "uid"}
//	POST /apps/{app_id}/gateway/join_group     {"socket_id", "group"}
//	POST /apps/{app_id}/gateway/leave_group    {"socket_id", "group"}
//	POST /apps/{app_id}/gateway/send_to_uid    {"uid" or "uids", "event", "data"}
//	POST /apps/{app_id}/gateway/send_to_group  {"group" or "groups", "event", "data", "exclude": [socket ids]}
//	POST /apps/{app_id}/gateway/send_to_all    {"event", "data", "exclude"}
//	POST /apps/{app_id}/gateway/close_client   {"socket_id"}
//	GET  /apps/{app_id}/gateway/uids/{uid}     → {"online": bool, "socket_ids": […]}
//	GET  /apps/{app_id}/gateway/groups/{group} → {"count": n, "uids": […]}
//	GET  /apps/{app_id}/gateway/count          → {"count": n}
//
// An unknown socket is 404, joining a full presence group 409. GET /healthz answers 200 and GET /readyz 200,
// or 503 after [API.SetReady](false), both unsigned. [API.Stats] counts
// the requests by route and status.
//
// # State
//
// Everything that spans connections goes through the [State] interface,
// whose contract says what must happen once across a cluster; [LocalState]
// is the single-process implementation, with sharded maps and a lock per
// channel. Webhook-worthy transitions are reported to a [Hook].
package push
