package wstest

import (
	"io"
	"net/http"
	"testing"
)

// HTTPStatus GETs url and returns the response's status code, failing t if
// there is no response.
func HTTPStatus(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
