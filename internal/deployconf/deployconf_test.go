package deployconf

import (
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	const text = "# listen 443 ssl; in a comment\nlisten 443 ssl;\n  # indented comment: 8282\nproxy_pass http://127.0.0.1:8282;\n"
	cases := []struct {
		name    string
		subst   []Subst
		want    string
		wantErr string
	}{
		{
			name:  "placeholders outside comments are replaced",
			subst: []Subst{{"listen 443 ssl;", "listen 127.0.0.1:9 ssl;"}, {"8282", "9000"}},
			want:  "# listen 443 ssl; in a comment\nlisten 127.0.0.1:9 ssl;\n  # indented comment: 8282\nproxy_pass http://127.0.0.1:9000;\n",
		},
		{name: "no substitution leaves the text", want: text},
		{name: "a missing placeholder fails", subst: []Subst{{"listen 80;", "x"}}, wantErr: `"listen 80;" occurs 0 times`},
		{name: "a placeholder on two lines fails", subst: []Subst{{";", "x"}}, wantErr: `";" occurs 2 times`},
		{name: "twice on one line counts twice", subst: []Subst{{"/", "_"}}, wantErr: `"/" occurs 2 times`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Rewrite(text, c.subst...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one saying %s", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestLoadShippedFiles(t *testing.T) {
	for _, name := range []string{"nginx/wssd.conf", "apache/wssd.conf", "haproxy/haproxy.cfg", "systemd/wssd.service", "systemd/wssd.env", "systemd/apps.json"} {
		text, err := Load(name)
		if err != nil || len(text) == 0 {
			t.Errorf("%s: %d bytes, %v", name, len(text), err)
		}
	}
	if _, err := Load("nginx/wssd.conf", Subst{"no such placeholder", ""}); err == nil || !strings.Contains(err.Error(), "deploy/nginx/wssd.conf") {
		t.Errorf("a bad placeholder: %v, want an error naming the file", err)
	}
}
