package push_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wssd/wssd/push"
)

// An app's backend signs a trigger; the server verifies it against the
// bytes it received.
func ExampleCredentials_VerifyRequest() {
	app := push.Credentials{ID: "3", Key: "278d425bdf160c739803", Secret: "7ad3773142a6692b25b8"}
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	now := time.Now()

	query := app.SignQuery(http.MethodPost, "/apps/3/events", nil, body, now)
	fmt.Println(strings.Split(query, "&")[0])

	if _, err := app.VerifyRequest(http.MethodPost, "/apps/3/events", query, body, now); err != nil {
		fmt.Println(err)
	}
	_, err := app.VerifyRequest(http.MethodPost, "/apps/3/events", query, []byte(`{"name":"bar"}`), now)
	fmt.Println(err, err.(*push.AuthError).Status)
	// Output:
	// auth_key=278d425bdf160c739803
	// push: body_md5 missing or not the MD5 of the body 401
}
