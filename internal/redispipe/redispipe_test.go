package redispipe

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// TestStreamedReplies: replies are read while later commands are written,
// in order, with every reply type a transaction returns.
func TestStreamedReplies(t *testing.T) {
	t.Parallel()
	rdb, ns := redistest.Client(t)
	ctx := context.Background()
	c, err := Dial(ctx, rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := func(s string) string { return string(ns) + ":" + s }

	const rounds = 2000
	got := make(chan []any, 1)
	readErr := make(chan error, 1)
	go func() {
		var out []any
		for range rounds * 7 {
			r, err := c.Read()
			if err != nil {
				readErr <- err
				return
			}
			out = append(out, r)
		}
		got <- out
	}()
	for i := range rounds {
		c.Command("SET", k("s"+strconv.Itoa(i)), []byte("v\r\n"+strconv.Itoa(i)))
		c.Command("INCRBY", k("n"), 2)
		c.Command("GET", k("missing"))
		c.Command("MULTI")
		c.Command("RPUSH", k("l"), i, 1.5)
		c.Command("LRANGE", k("l"), -2, -1)
		c.Command("EXEC")
		if i%100 == 0 {
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []any
	select {
	case out = <-got:
	case err := <-readErr:
		t.Fatal(err)
	}
	for i := range rounds {
		r := out[i*7 : i*7+7]
		want := []any{"OK", int64(2 * (i + 1)), nil, "OK", "QUEUED", "QUEUED",
			[]any{int64(2 * (i + 1)), []any{strconv.Itoa(i), "1.5"}}}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("round %d: replies %#v, want %#v", i, r, want)
		}
	}
	if v, _ := rdb.Get(ctx, k("s7")).Result(); v != "v\r\n7" {
		t.Fatalf("value written: %q", v)
	}

	// An error reply is a value; the connection goes on.
	c.Command("LPUSH", k("s1"), "x")
	c.Command("PING")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	r1, err1 := c.Read()
	r2, err2 := c.Read()
	if e, ok := r1.(Error); !ok || !strings.HasPrefix(string(e), "WRONGTYPE") || err1 != nil || r2 != "PONG" || err2 != nil {
		t.Fatalf("after a wrong type: %#v %v, %#v %v", r1, err1, r2, err2)
	}
}

// TestDatabaseAndUser: the connection is on the client's database, as
// the client's user; a wrong password is refused without showing it.
func TestDatabaseAndUser(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.DB(t)
	ctx := context.Background()
	user, pass := "redispipe-"+redistest.RandomID(), "pw-"+redistest.RandomID()
	if err := rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "+@all").Err(); err != nil {
		t.Fatalf("creating a user: %v", err)
	}
	t.Cleanup(func() { rdb.Do(context.Background(), "ACL", "DELUSER", user) })
	opt := *rdb.Options()
	opt.Username, opt.Password, opt.Dialer = user, pass, nil
	as := redis.NewClient(&opt)
	defer as.Close()

	c, err := Dial(ctx, as, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Command("SET", "here", "1")
	c.Command("ACL", "WHOAMI")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Read(); r != "OK" || err != nil {
		t.Fatalf("SET: %#v %v", r, err)
	}
	if r, err := c.Read(); r != user || err != nil {
		t.Fatalf("ACL WHOAMI: %#v %v, want %s", r, err, user)
	}
	if v, _ := rdb.Get(ctx, "here").Result(); v != "1" {
		t.Fatalf("the key is not in database %d", opt.DB)
	}

	opt.Password = "wrong-" + pass
	wrong := redis.NewClient(&opt)
	defer wrong.Close()
	_, err = Dial(ctx, wrong, "")
	if err == nil || strings.Contains(err.Error(), opt.Password) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestClusterNode: on a cluster, the connection is to the node holding
// the key.
func TestClusterNode(t *testing.T) {
	t.Parallel()
	rdb := redistest.Cluster(t, 3)
	ctx := context.Background()
	for _, key := range []string{"{a}k", "{b}k", "{c}k"} {
		c, err := Dial(ctx, rdb, key)
		if err != nil {
			t.Fatal(err)
		}
		c.Command("SET", key, "v")
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Read(); r != "OK" || err != nil {
			t.Fatalf("SET %s: %#v %v", key, r, err)
		}
		_ = c.Close()
		if v, _ := rdb.Get(ctx, key).Result(); v != "v" {
			t.Fatalf("%s: %q", key, v)
		}
	}
}

// TestUnsupportedAndClosed: a ring is refused; Close ends a waiting Read.
func TestUnsupportedAndClosed(t *testing.T) {
	t.Parallel()
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	if _, err := Dial(context.Background(), ring, ""); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ring: %v, want ErrUnsupported", err)
	}

	rdb, _ := redistest.Client(t)
	c, err := Dial(context.Background(), rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Read(); done <- err }()
	_ = c.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read after Close: no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waiting after Close")
	}
}
