package redisconn

import (
	"context"
	"testing"

	"github.com/brazesync/brazesync/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

func TestOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url     string
		addrs   []string
		db      int
		cluster bool
		master  string
		pass    string
	}{
		{"redis://127.0.0.1:6379/3", []string{"127.0.0.1:6379"}, 3, false, "", ""},
		{"redis://:pw@h", []string{"h:6379"}, 0, false, "", "pw"},
		{"rediss://pw@h:6380", []string{"h:6380"}, 0, false, "", "pw"},
		{"redis-sentinel://s1,s2:26380/1?master=mymaster", []string{"s1:26379", "s2:26380"}, 1, false, "mymaster", ""},
		{"redis-cluster://n1:7000,n2:7001", []string{"n1:7000", "n2:7001"}, 0, true, "", ""},
		{"redis://n1:7000,n2:7001", []string{"n1:7000", "n2:7001"}, 0, true, "", ""},
	}
	for _, c := range cases {
		o, err := Options(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if len(o.Addrs) != len(c.addrs) || o.Addrs[0] != c.addrs[0] || o.Addrs[len(o.Addrs)-1] != c.addrs[len(c.addrs)-1] {
			t.Errorf("%s: addrs %v", c.url, o.Addrs)
		}
		if o.DB != c.db || o.IsClusterMode != c.cluster || o.MasterName != c.master || o.Password != c.pass {
			t.Errorf("%s: got %+v", c.url, o)
		}
	}
	for _, bad := range []string{"http://h", "redis-sentinel://h", "redis-cluster://a,b/2", "redis://h/x", "redis://a,,b"} {
		if _, err := Options(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestAddressHasNoCredentials(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"redis://:s3cret-pw@127.0.0.1:6390/2":               "127.0.0.1:6390",
		"rediss://user:s3cret-pw@h":                         "h:6379",
		"redis-cluster://:s3cret-pw@n1:7000,n2:7001":        "n1:7000,n2:7001",
		"redis-sentinel://:s3cret-pw@s1,s2:26380?master=mm": "master mm via sentinels s1:26379,s2:26380",
		"ftp://:s3cret-pw@h":                                "an invalid URL",
	}
	for url, want := range cases {
		if got := Address(url); got != want {
			t.Errorf("Address(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestNewTalksToRedis(t *testing.T) {
	t.Parallel()
	c, err := New(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("single-server URL gave %T", c)
	}
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}
