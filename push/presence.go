package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// errChannelData is wrapped by parseMember's errors.
var errChannelData = errors.New("push: invalid channel_data")

// parseMember reads a presence channel's channel_data: a JSON object with
// a user_id (a non-empty string, or a number, kept as written) and an
// optional user_info of at most MaxUserInfo bytes.
func parseMember(channelData string, lim Limits) (*Member, error) {
	var raw struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	b := bytes.TrimSpace([]byte(channelData))
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", errChannelData)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errChannelData, err)
	}
	id, err := userID(raw.UserID)
	if err != nil {
		return nil, err
	}
	if len(id) > lim.MaxUserID {
		return nil, fmt.Errorf("%w: user_id longer than %d bytes", errChannelData, lim.MaxUserID)
	}
	if len(raw.UserInfo) > lim.MaxUserInfo {
		return nil, fmt.Errorf("%w: user_info larger than %d bytes", errChannelData, lim.MaxUserInfo)
	}
	m := &Member{UserID: id}
	if len(raw.UserInfo) > 0 && !bytes.Equal(raw.UserInfo, []byte("null")) {
		m.Info = bytes.Clone(raw.UserInfo)
	}
	return m, nil
}

// userID accepts a JSON string or number as a user id.
func userID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", fmt.Errorf("%w: no user_id", errChannelData)
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return "", fmt.Errorf("%w: empty user_id", errChannelData)
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("%w: user_id: %v", errChannelData, err)
		}
		return n.String(), nil
	}
	return "", fmt.Errorf("%w: user_id must be a string or a number", errChannelData)
}

// presenceOf is the data of a presence channel's subscription_succeeded.
func presenceOf(ms []Member) Data {
	p := presenceSet{IDs: make([]string, len(ms)), Hash: make(map[string]json.RawMessage, len(ms)), Count: len(ms)}
	for i, m := range ms {
		p.IDs[i] = m.UserID
		p.Hash[m.UserID] = m.Info
	}
	return dataOf(presenceData{Presence: p})
}

// userData is the user_data of a pusher:signin.
type userData struct {
	ID        string          `json:"id"`
	UserInfo  json.RawMessage `json:"user_info"`
	Watchlist []string        `json:"watchlist"`
}

// errUserData is wrapped by parseUserData's errors.
var errUserData = errors.New("push: invalid user_data")

func parseUserData(s string, lim Limits) (*userData, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", errUserData)
	}
	var u userData
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, fmt.Errorf("%w: %v", errUserData, err)
	}
	switch {
	case u.ID == "":
		return nil, fmt.Errorf("%w: no id", errUserData)
	case len(u.ID) > lim.MaxUserID:
		return nil, fmt.Errorf("%w: id longer than %d bytes", errUserData, lim.MaxUserID)
	case len(u.UserInfo) > lim.MaxUserInfo:
		return nil, fmt.Errorf("%w: user_info larger than %d bytes", errUserData, lim.MaxUserInfo)
	case len(u.Watchlist) > lim.MaxWatchlist:
		return nil, fmt.Errorf("%w: watchlist longer than %d", errUserData, lim.MaxWatchlist)
	}
	for _, w := range u.Watchlist {
		if w == "" || len(w) > lim.MaxUserID {
			return nil, fmt.Errorf("%w: bad watchlist id", errUserData)
		}
	}
	return &u, nil
}
