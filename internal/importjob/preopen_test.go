package importjob

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/sftpclient"
	"github.com/brazesync/brazesync/internal/testutil/sshdtest"
)

// TestPreOpened: a file opened ahead is handed over once, to the import
// of that path only; a file that did not open is left to the import to
// open (and to report); one never taken is closed.
func TestPreOpened(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Options{})
	s.WriteFile(t, "in/a.csv", []byte("a,b\n1,2\n"))
	ctx := context.Background()
	c, err := sftpclient.Dial(ctx, sftpclient.Config{Host: s.Host, Port: s.Port, Username: s.User,
		PrivateKey: s.ClientKeyPEM, HostKey: s.HostKeyAuthorized, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	po := preOpen(ctx, c, "in/a.csv")
	if r := po.take("in/b.csv"); r != nil {
		t.Fatal("handed over for another path")
	}
	r := po.take("in/a.csv")
	if r == nil {
		t.Fatal("not handed over")
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "a,b\n1,2\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	_ = r.Close()
	if r := po.take("in/a.csv"); r != nil {
		t.Fatal("handed over twice")
	}
	po.close()

	missing := preOpen(ctx, c, "in/missing.csv")
	if r := missing.take("in/missing.csv"); r != nil {
		t.Fatal("a file that did not open was handed over")
	}
	missing.close()

	untaken := preOpen(ctx, c, "in/a.csv")
	<-untaken.done
	h := untaken.r
	untaken.close()
	if h == nil {
		t.Fatal("the file did not open")
	}
	if _, err := h.Read(make([]byte, 4)); err == nil {
		t.Fatal("a file never taken is left open")
	}
	var none *preOpened
	if none.take("in/a.csv") != nil {
		t.Fatal("nothing opened ahead, yet something handed over")
	}
	none.close()
}
