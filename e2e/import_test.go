package e2e

import (
	"fmt"
	"testing"
	"time"
)

// brazeCSV is a file in the form of Braze's segment CSV export.
func brazeCSV(prefix string, n int) []byte {
	b := []byte("Braze ID,user_id,email,first_name,country\n")
	for i := range n {
		b = fmt.Appendf(b, "b-%s%d,%s%d,%s%d@example.com,Name%d,FR\n", prefix, i, prefix, i, prefix, i, i)
	}
	return b
}

// sftpAuth creates an authorization of the customer's server and pins its
// host key the way a user does: /test?pin=true.
func sftpAuth(t *testing.T, a *Account, s *customerSFTP, typ string, secrets map[string]any) string {
	t.Helper()
	secrets["private_key"] = s.KeyPEM
	id := a.Call(t, "POST", "/authorizations", map[string]any{
		"type": typ, "label": "customer server",
		"config":  map[string]any{"host": s.Host, "port": s.Port, "username": s.User, "folder": s.Dir},
		"secrets": secrets,
	}).Expect(t, 201).Str("id")
	r := a.Call(t, "POST", "/authorizations/"+id+"/test?pin=true", nil).Expect(t, 200)
	if a.Call(t, "GET", "/authorizations/"+id, nil).Expect(t, 200).Str("config.host_key") == "" {
		t.Fatalf("the host key was not pinned: %v", r)
	}
	return id
}

// waitProfile waits for a profile to exist and returns it.
func waitProfile(t *testing.T, a *Account, field, value string) J {
	t.Helper()
	var p J
	eventually(t, 60*time.Second, "profile "+field+"="+value, func() (bool, string) {
		r := a.Call(t, "GET", "/profiles/"+field+"/"+value, nil)
		if r.Status != 200 {
			return false, string(r.Body)
		}
		p = r.J(t)
		return true, ""
	})
	return p
}

// ledger returns the job's file ledger.
func ledger(t *testing.T, a *Account, job string) []J {
	t.Helper()
	var out []J
	for _, v := range a.Call(t, "GET", "/jobs/"+job+"/files", nil).Expect(t, 200).Arr("data") {
		m, _ := v.(map[string]any)
		out = append(out, J(m))
	}
	return out
}

// TestImportFromCustomerSFTP: a csv_import job reads a Braze CSV from the
// customer's OpenSSH server into profiles, plain and PGP-encrypted; the
// ledger lists each file once, and a retry imports it again.
func TestImportFromCustomerSFTP(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		s := startCustomerSFTP(t)
		a := e.NewAccount(t)

		t.Run("plain", func(t *testing.T) {
			prefix := "plain" + randomHex(3) + "-"
			s.write(t, "users_"+prefix+".csv", brazeCSV(prefix, 50))
			auth := sftpAuth(t, a, s, "sftp", map[string]any{})
			job := a.Call(t, "POST", "/jobs", map[string]any{
				"type": "csv_import", "label": "import", "authorization_id": auth,
				"config": map[string]any{"folder": s.Dir, "file": "users_" + prefix + ".csv"},
			}).Expect(t, 201).Str("id")
			p := waitProfile(t, a, "email", prefix+"7@example.com")
			if p.Str("fields.first_name") != "Name7" || p.Strings("identities.external_id")[0] != prefix+"7" {
				t.Errorf("imported profile = %v", p)
			}
			var files []J
			eventually(t, 30*time.Second, "the ledger to say imported", func() (bool, string) {
				files = ledger(t, a, job)
				return len(files) == 1 && files[0].Str("state") == "imported", jsonString(files)
			})
			if files[0].Num("rows_read") != 50 || files[0].Num("applied") != 50 {
				t.Errorf("ledger entry = %v", files[0])
			}
			n := len(runs(t, a, job))
			r := a.Call(t, "POST", "/jobs/"+job+"/files/retry", map[string]any{"path": files[0].Str("path")}).Expect(t, 200)
			if r.Num("reset") != 1 {
				t.Errorf("retry answered %v", r)
			}
			if got := a.Call(t, "POST", "/jobs/"+job+"/files/retry", map[string]any{"path": "/no/such.csv"}); got.Status != 404 {
				t.Errorf("retry of an unknown path: %d", got.Status)
			}
			runNow(t, a, job)
			last := waitRunEnded(t, a, job, n+1)
			if last.Str("outcome") != "success" {
				t.Errorf("run after retry = %v", last)
			}
			eventually(t, 30*time.Second, "the file imported again", func() (bool, string) {
				files = ledger(t, a, job)
				return len(files) == 1 && files[0].Str("state") == "imported", jsonString(files)
			})
		})

		t.Run("pgp", func(t *testing.T) {
			k := newGPGKey(t)
			prefix := "pgp" + randomHex(3) + "-"
			s.write(t, "users_"+prefix+".csv.gpg", k.encrypt(t, brazeCSV(prefix, 20)))
			auth := sftpAuth(t, a, s, "sftp_pgp", map[string]any{"pgp_private_key": k.Armored, "pgp_passphrase": k.Passphrase})
			a.Call(t, "POST", "/jobs", map[string]any{
				"type": "csv_import", "label": "import pgp", "authorization_id": auth,
				"config": map[string]any{"folder": s.Dir, "pattern": "users_" + prefix + "*.csv.gpg"},
			}).Expect(t, 201)
			p := waitProfile(t, a, "email", prefix+"19@example.com")
			if p.Str("fields.country") != "FR" {
				t.Errorf("imported profile = %v", p)
			}
		})
	})
}
