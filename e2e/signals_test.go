package e2e

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"
)

// TestGracefulStop: SIGTERM stops every process with status 0, and every
// line each wrote to stderr is JSON.
func TestGracefulStop(t *testing.T) {
	eachModeOwn(t, Options{Workers: 1}, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		a.Collect(t, "braze_users", map[string]any{"email": "stop@example.com"}).Expect(t, 200)
		for _, p := range e.procs {
			if err := p.Signal(syscall.SIGTERM); err != nil {
				t.Fatalf("signalling %s: %v", p.Name, err)
			}
		}
		for _, p := range e.procs {
			code, err := p.Wait(30 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 {
				t.Errorf("%s exited with %d after SIGTERM", p.Name, code)
			}
			for _, line := range p.stderr.Lines() {
				var v map[string]any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Errorf("%s wrote a line that is not JSON to stderr: %q", p.Name, line)
				}
			}
		}
	})
}
