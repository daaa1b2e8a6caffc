package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/brazesync/brazesync/client"
)

// The examples below need a running brazesync (`brazesync dev` prints its
// URL and admin token): they compile but do not run.

// A Braze authorization holds a workspace's REST API key, sealed at rest
// and never answered again.
func ExampleClient_CreateAuthorization() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BRAZESYNC_URL"), os.Getenv("BRAZESYNC_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := c.CreateAuthorization(ctx, "acme", client.AuthorizationInput{
		Type:    client.AuthorizationBraze,
		Label:   "Braze US-01",
		Config:  &client.AuthorizationConfig{Instance: "US-01"},
		Secrets: &client.AuthorizationSecrets{APIKey: os.Getenv("BRAZE_API_KEY")},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(auth.ID, auth.SecretsSet) // e.g. au_... [api_key]
}

// An export job keeps a Braze array attribute in step with audiences.
func ExampleClient_CreateJob_export() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BRAZESYNC_URL"), os.Getenv("BRAZESYNC_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.CreateJob(ctx, "acme", client.JobInput{
		Type:            client.JobExportAudience,
		Label:           "VIPs to Braze",
		AuthorizationID: "au_123", // a braze authorization
		Config: client.JobConfig{
			Audiences:       []string{"vip", "churn_risk"},
			IdentifierField: "external_id",
			ExistingUsers:   true,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.ID, job.State) // e.g. job_... running
}

// An import job reads Braze's segment CSV exports from an SFTP server. The
// server's host key is pinned first: a test without a pinned key sends no
// credential and shows the key; pinning stores it, and the next test logs
// in.
func ExampleClient_CreateJob_import() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BRAZESYNC_URL"), os.Getenv("BRAZESYNC_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := c.CreateAuthorization(ctx, "acme", client.AuthorizationInput{
		Type:    client.AuthorizationSFTP,
		Label:   "exports server",
		Config:  &client.AuthorizationConfig{Host: "sftp.example.com", Username: "braze"},
		Secrets: &client.AuthorizationSecrets{Password: os.Getenv("SFTP_PASSWORD")},
	})
	if err != nil {
		log.Fatal(err)
	}
	test, err := c.TestAuthorization(ctx, "acme", auth.ID, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the server presents", test.Result.HostKeyFingerprint)
	if _, err := c.TestAuthorization(ctx, "acme", auth.ID, true); err != nil { // pin it
		log.Fatal(err)
	}
	if test, err = c.TestAuthorization(ctx, "acme", auth.ID, false); err != nil || !test.OK {
		log.Fatalf("login: %v %s %s", err, test.Code, test.Error)
	}
	job, err := c.CreateJob(ctx, "acme", client.JobInput{
		Type:            client.JobCSVImport,
		Label:           "Braze segment exports",
		AuthorizationID: auth.ID,
		Config:          client.JobConfig{Folder: "/exports", Pattern: "segment_*.csv", KeepUpdated: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.ID, job.Schedule) // e.g. job_... @every 15m
}

// An error answer is an *Error with the API's stable code.
func ExampleError() {
	// A stand-in for the API, answering as it does for an unknown job.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "9f86d081884c7d65")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintln(w, `{"error":{"code":"not_found","message":"job not found"}}`)
	}))
	defer srv.Close()

	c, err := client.New(srv.URL, "token")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetJob(context.Background(), "acme", "job_nothing")
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Message, apiErr.RequestID)
	}
	fmt.Println(client.IsCode(err, client.CodeNotFound), apiErr.Temporary())
	// Output:
	// 404 not_found job not found 9f86d081884c7d65
	// true false
}
