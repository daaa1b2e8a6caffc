package e2e

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// concrete fills a documented path's parameters: the account is a real
// one, anything else names nothing.
func concrete(path, account string) string {
	return pathParam.ReplaceAllStringFunc(path, func(p string) string {
		switch p {
		case "{account}":
			return account
		case "{field}":
			return "email"
		case "{stream}":
			return "braze_users"
		}
		return "nothing-" + strings.Trim(p, "{}")
	})
}

// routerNotFound tells the mux' own 404 (no route) from an API 404 (a
// route that found nothing), which is JSON.
func routerNotFound(r *Resp) bool {
	return r.Status == http.StatusNotFound && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// TestOpenAPIMatchesRoutes walks every path and method of /openapi.json:
// each must be mounted (no router 404), and every method the document
// leaves out of a path must be refused by the router (405), so that a
// mounted route missing from the document fails too.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	eachMode(t, func(t *testing.T, e *Env) {
		a := e.NewAccount(t)
		doc := e.Call(t, "GET", "/openapi.json", "", nil).Expect(t, 200)
		if !strings.HasPrefix(doc.Str("openapi"), "3.") {
			t.Fatalf("openapi = %q", doc.Str("openapi"))
		}
		methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
		for path, item := range doc.Obj("paths") {
			ops, _ := item.(map[string]any)
			u := concrete(path, a.ID)
			for _, m := range methods {
				_, documented := ops[strings.ToLower(m)]
				var body any
				if m == "POST" || m == "PUT" || m == "PATCH" {
					body = "{}"
				}
				r := e.Call(t, m, u, e.Admin, body)
				switch {
				case documented && routerNotFound(r):
					t.Errorf("%s %s is documented but not mounted: %d %s", m, path, r.Status, r.Body)
				case documented && r.Status >= 500:
					t.Errorf("%s %s answered %d to an empty request: %s", m, path, r.Status, r.Body)
				case !documented && r.Status != http.StatusMethodNotAllowed && !routerNotFound(r):
					t.Errorf("%s %s answered %d but the document does not describe it: %s", m, path, r.Status, r.Body)
				}
			}
		}
		if !slices.Contains(keys(doc.Obj("paths")), "/api/v1/accounts/{account}/jobs/{id}/files") {
			t.Errorf("the import ledger is not documented")
		}
	})
}

func keys(j J) []string {
	var out []string
	for k := range j {
		out = append(out, k)
	}
	return out
}
