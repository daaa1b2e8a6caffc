package braze_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/brazesync/brazesync/internal/braze"
	"github.com/brazesync/brazesync/internal/brazesim"
)

// An export sends one object per user with the audiences the user entered
// and left, batch by batch, and branches on the error class.
func ExampleClient_Send() {
	sim := brazesim.New(brazesim.Options{APIKeys: []string{"key"}})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	c, err := braze.New(braze.Options{Endpoint: srv.URL, APIKey: "key", AllowInsecure: true, AllowCustomEndpoint: true, BatchSize: 50})
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	objects := []braze.Object{
		braze.Segments(braze.Identifier{Kind: braze.ExternalID, Value: "u1"}, "", []string{"vip"}, []string{"trial"}),
		braze.Segments(braze.Identifier{Kind: braze.Email, Value: "no-at-sign"}, "", []string{"vip"}, nil),
	}
	batches, err := c.Batches(objects)
	if err != nil {
		panic(err)
	}
	for _, b := range batches {
		res, err := c.Send(context.Background(), b)
		var berr *braze.Error
		switch {
		case errors.As(err, &berr) && berr.Class == braze.RateLimited:
			fmt.Println("retry at", berr.RetryAt)
		case errors.As(err, &berr) && berr.Class == braze.Retryable:
			fmt.Println("retry later:", berr.Message)
		case err != nil:
			fmt.Println("give up:", err)
		default:
			fmt.Println("processed", res.AttributesProcessed)
			for _, oe := range res.Errors {
				fmt.Printf("rejected %s: %s\n", oe.ID, oe.Type)
			}
		}
	}
	u, _ := sim.User("u1")
	fmt.Println(u["lytics_segments"])
	// Output:
	// processed 1
	// rejected email=no-at-sign: 'email' is not a valid email address
	// [vip]
}
