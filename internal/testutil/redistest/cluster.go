package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/internal/testutil/poll"
	"github.com/redis/go-redis/v9"
)

// Cluster starts a Redis Cluster of n masters for the test (redis-server
// processes on free loopback ports, no replicas, nothing kept on disk past
// the test), spreads the 16,384 slots evenly over them, and returns a client
// of it. The servers are stopped when the test ends.
func Cluster(t testing.TB, n int) *redis.ClusterClient {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: redis-server is needed for a cluster: %v", err)
	}
	ctx := context.Background()
	addrs := make([]string, n)
	nodes := make([]*redis.Client, n)
	for i := range n {
		addrs[i] = startClusterNode(t)
		nodes[i] = redis.NewClient(&redis.Options{Addr: addrs[i]})
		t.Cleanup(func() { nodes[i].Close() })
		poll.Until(t, 20*time.Second, "redis-server "+addrs[i]+" to answer", func() bool { return nodes[i].Ping(ctx).Err() == nil })
	}
	for i, node := range nodes {
		from, to := i*16384/n, (i+1)*16384/n
		slots := make([]int, 0, to-from)
		for s := from; s < to; s++ {
			slots = append(slots, s)
		}
		if err := node.ClusterAddSlots(ctx, slots...).Err(); err != nil {
			t.Fatalf("redistest: assigning slots to %s: %v", addrs[i], err)
		}
	}
	for i := 1; i < n; i++ {
		host, port, _ := net.SplitHostPort(addrs[i])
		p, _ := strconv.Atoi(port)
		if err := nodes[0].ClusterMeet(ctx, host, strconv.Itoa(p)).Err(); err != nil {
			t.Fatalf("redistest: joining %s to the cluster: %v", addrs[i], err)
		}
	}
	for i, node := range nodes {
		poll.Until(t, 20*time.Second, "node "+addrs[i]+" to see the whole cluster", func() bool {
			info, err := node.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r", n))
		})
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	// Every node must answer for its slots before the test starts.
	poll.Until(t, 20*time.Second, "the cluster to take writes on every node", func() bool {
		for i := range n {
			key := "{" + slotTag(i*16384/n, (i+1)*16384/n) + "}probe"
			if c.Set(ctx, key, "1", time.Minute).Err() != nil {
				return false
			}
		}
		return true
	})
	return c
}

// startClusterNode starts one cluster-enabled redis-server and returns its
// address.
func startClusterNode(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--dir", dir, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redistest: starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return "127.0.0.1:" + port
}

// slotTag returns a hash tag whose slot is in [from, to).
func slotTag(from, to int) string {
	for i := 0; ; i++ {
		tag := strconv.Itoa(i)
		if s := int(crc16([]byte(tag)) % 16384); s >= from && s < to {
			return tag
		}
	}
}

// crc16 is the CRC16-CCITT (XMODEM) that Redis Cluster hashes keys with.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
