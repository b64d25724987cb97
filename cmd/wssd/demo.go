package main

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wssd/wssd/push"
)

// web holds the demo chat page and the pusher-js it loads, so that the demo
// needs no CDN.
//
//go:embed web/index.html web/vendor/pusher-js/pusher.min.js
var web embed.FS

// demoChannel is the one channel the demo's authorization endpoint signs.
const demoChannel = "presence-demo"

// demoHandler serves the demo chat for the development app: the page, its
// pusher-js, its configuration and an authorization endpoint that lets
// anyone join demoChannel under the name they type. It signs for anyone,
// so it exists only for the generated development app.
func demoHandler(app *push.App) http.Handler {
	page, _ := fs.ReadFile(web, "web/index.html")
	js, _ := fs.ReadFile(web, "web/vendor/pusher-js/pusher.min.js")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("GET /demo/pusher.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = w.Write(js)
	})
	mux.HandleFunc("GET /demo/config", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"key": app.Key, "channel": demoChannel})
	})
	mux.HandleFunc("POST /demo/auth", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "a form with socket_id, channel_name and name", http.StatusBadRequest)
			return
		}
		socketID, channel := r.PostForm.Get("socket_id"), r.PostForm.Get("channel_name")
		name := strings.TrimSpace(r.PostForm.Get("name"))
		switch {
		case channel != demoChannel:
			http.Error(w, "the demo signs only "+demoChannel, http.StatusForbidden)
			return
		case socketID == "" || name == "" || len(name) > 40 || !utf8.ValidString(name):
			http.Error(w, "socket_id and a name of 1 to 40 characters are required", http.StatusBadRequest)
			return
		}
		// One user per name: two tabs with the same name are one member.
		member, _ := json.Marshal(map[string]any{"user_id": strings.ToLower(name), "user_info": map[string]string{"name": name}})
		writeJSON(w, http.StatusOK, map[string]string{
			"auth":         app.AuthorizeChannel(socketID, channel, string(member)),
			"channel_data": string(member),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
