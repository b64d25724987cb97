package push

import (
	"net/http"
)

// The Gateway facade over HTTP: /apps/{app_id}/gateway/..., signed as the
// Pusher API is, JSON in and out; errors are {"error": "..."} with the
// status the Pusher routes would answer (404 for an unknown socket).
func (a *API) gatewayRoutes() {
	const p = "/apps/{app_id}/gateway/"
	a.gateway("POST "+p+"bind_uid", func(g *Gateway, q *gatewayRequest) (any, error) {
		return nil, g.BindUID(q.SocketID, q.UID)
	})
	a.gateway("POST "+p+"join_group", func(g *Gateway, q *gatewayRequest) (any, error) {
		return nil, g.JoinGroup(q.SocketID, q.Group)
	})
	a.gateway("POST "+p+"leave_group", func(g *Gateway, q *gatewayRequest) (any, error) {
		return nil, g.LeaveGroup(q.SocketID, q.Group)
	})
	a.gateway("POST "+p+"send_to_uid", func(g *Gateway, q *gatewayRequest) (any, error) {
		uids := q.UIDs
		if q.UID != "" {
			uids = append(uids, q.UID)
		}
		if len(uids) == 0 {
			return nil, badRequest("missing uid or uids")
		}
		if len(uids) > g.app.Limits.MaxTriggerChannels {
			return nil, badRequest("more than %d uids", g.app.Limits.MaxTriggerChannels)
		}
		return nil, g.SendToUIDs(uids, q.Event, q.Data)
	})
	a.gateway("POST "+p+"send_to_group", func(g *Gateway, q *gatewayRequest) (any, error) {
		groups := q.Groups
		if q.Group != "" {
			groups = append(groups, q.Group)
		}
		return nil, g.SendToGroups(groups, q.Event, q.Data, q.Exclude...)
	})
	a.gateway("POST "+p+"send_to_all", func(g *Gateway, q *gatewayRequest) (any, error) {
		return nil, g.SendToAll(q.Event, q.Data, q.Exclude...)
	})
	a.gateway("POST "+p+"close_client", func(g *Gateway, q *gatewayRequest) (any, error) {
		return nil, g.CloseSocket(q.SocketID)
	})
	a.gateway("GET "+p+"uids/{uid}", func(g *Gateway, q *gatewayRequest) (any, error) {
		uid := q.r.PathValue("uid")
		ids := g.UIDSocketIDs(uid)
		if ids == nil {
			ids = []string{}
		}
		return uidInfo{Online: g.IsUIDOnline(uid), SocketIDs: ids}, nil
	})
	a.gateway("GET "+p+"groups/{group}", func(g *Gateway, q *gatewayRequest) (any, error) {
		group := q.r.PathValue("group")
		if err := validChannel(group, g.app.Limits.MaxChannelName); err != nil {
			return nil, badRequest("%v", err)
		}
		uids := g.GroupUIDs(group)
		if uids == nil {
			uids = []string{}
		}
		return groupInfo{Count: g.GroupCount(group), UIDs: uids}, nil
	})
	a.gateway("GET "+p+"count", func(g *Gateway, q *gatewayRequest) (any, error) {
		return countInfo{Count: g.TotalCount()}, nil
	})
}

// gatewayRequest is the body of a POST to the facade; each route reads the
// fields it needs. Data is the event's data string, as with the Pusher
// routes.
type gatewayRequest struct {
	SocketID string   `json:"socket_id"`
	UID      string   `json:"uid"`
	UIDs     []string `json:"uids"`
	Group    string   `json:"group"`
	Groups   []string `json:"groups"`
	Event    string   `json:"event"`
	Data     string   `json:"data"`
	Exclude  []string `json:"exclude"`

	r *http.Request
}

// Answers of the facade's GET routes.
type (
	uidInfo struct {
		Online    bool     `json:"online"`
		SocketIDs []string `json:"socket_ids"`
	}
	groupInfo struct {
		Count int      `json:"count"`
		UIDs  []string `json:"uids"`
	}
	countInfo struct {
		Count int `json:"count"`
	}
)

// gateway registers a facade route: a POST's body is decoded into the
// gatewayRequest first; fn's nil value answers {}.
func (a *API) gateway(pattern string, fn func(*Gateway, *gatewayRequest) (any, error)) {
	a.handle(pattern, func(q *apiRequest) (any, error) {
		g, err := a.s.Gateway(q.app.ID)
		if err != nil {
			return nil, err
		}
		gq := &gatewayRequest{r: q.r}
		if q.r.Method == http.MethodPost {
			if err := decodeJSON(q.body, gq); err != nil {
				return nil, err
			}
			if len(gq.Data) > q.app.Limits.MaxEventData {
				return nil, errDataTooLarge(q.app.Limits)
			}
		}
		v, err := fn(g, gq)
		if v == nil && err == nil {
			v = struct{}{}
		}
		return v, err
	}, writeJSONError)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, struct {
		Error string `json:"error"`
	}{msg}, status)
}
