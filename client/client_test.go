package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/brazesync/brazesync/client"
)

// answering starts a server that answers every request with status,
// header and body, and records the raw request URI it got.
func answering(t *testing.T, status int, header map[string]string, body string) (*client.Client, *string) {
	t.Helper()
	var uri string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri = r.RequestURI
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", "tok", client.WithStrictDecoding())
	if err != nil {
		t.Fatal(err)
	}
	return c, &uri
}

func TestCollectRateLimitIsATemporaryError(t *testing.T) {
	t.Parallel()
	c, _ := answering(t, http.StatusTooManyRequests, map[string]string{"Retry-After": "7"}, `{"status":429,"message":"ingest rate exceeded"}`)
	_, err := c.Collect(context.Background(), "acme", "braze_users", []client.Record{{"email": "a@b"}}, nil)
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *Error", err)
	}
	if e.Status != 429 || e.Code != client.CodeRateLimited || e.Message != "ingest rate exceeded" || e.RetryAfter != 7*time.Second || !e.Temporary() {
		t.Fatalf("error = %+v", e)
	}
}

func TestAnswerOfNoKnownShape(t *testing.T) {
	t.Parallel()
	c, _ := answering(t, http.StatusBadGateway, nil, "<html>bad gateway</html>")
	_, err := c.ListAccounts(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Code != client.CodeInternal || e.Message != "<html>bad gateway</html>" || !e.Temporary() {
		t.Fatalf("err = %#v", err)
	}
}

func TestAPIErrorKeepsItsField(t *testing.T) {
	t.Parallel()
	c, _ := answering(t, http.StatusUnprocessableEntity, nil, `{"error":{"code":"invalid","message":"config.audiences: is required","field":"config.audiences"}}`)
	_, err := c.CreateJob(context.Background(), "acme", client.JobInput{Type: client.JobExportAudience})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != client.CodeInvalid || e.Field != "config.audiences" || e.Temporary() {
		t.Fatalf("err = %#v", err)
	}
	if got, want := err.Error(), "422 invalid: config.audiences: is required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	t.Parallel()
	c, uri := answering(t, http.StatusNoContent, nil, "")
	if err := c.RemoveManagedPublicKey(context.Background(), "acme", "au 1", "SHA256:ab/cd+e"); err != nil {
		t.Fatal(err)
	}
	if want := "/api/v1/accounts/acme/authorizations/au%201/public_keys/SHA256:ab%2Fcd+e"; *uri != want {
		t.Fatalf("request URI %s, want %s", *uri, want)
	}
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	c, _ := answering(t, http.StatusOK, nil, `{"id":"acme","name":"Acme","created_at":"2026-01-02T03:04:05Z","plan":"gold"}`)
	if _, err := c.GetAccount(context.Background(), "acme"); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}

func TestNewRefusesBadBaseURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://x/?a=b", "http://"} {
		if _, err := client.New(u, ""); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
}

func TestJobPatchSendsNullToRemoveNotify(t *testing.T) {
	t.Parallel()
	label := "x"
	for _, c := range []struct {
		p    client.JobPatch
		want string
	}{
		{client.JobPatch{Label: &label}, `{"label":"x"}`},
		{client.JobPatch{RemoveNotify: true}, `{"notify":null}`},
		{client.JobPatch{Notify: &client.NotifyInput{URL: "https://h/x", Events: []string{client.EventRunFailed}}}, `{"notify":{"url":"https://h/x","events":["run_failed"]}}`},
	} {
		b, err := json.Marshal(c.p)
		if err != nil || string(b) != c.want {
			t.Errorf("%+v: %s %v, want %s", c.p, b, err, c.want)
		}
	}
}
