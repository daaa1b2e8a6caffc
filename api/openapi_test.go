package api

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/brazesync/brazesync/internal/egress"
	"github.com/getkin/kin-openapi/openapi3"
)

// loadOpenAPI loads the served document with kin-openapi and validates it.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	b, err := openapiDoc()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

// noClientError are the operations that take no token and no input: no
// request of theirs is a client's mistake, so they document no 4xx.
var noClientError = map[string]bool{"getHealth": true, "getReadiness": true, "getOpenAPIDocument": true}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// TestOpenAPIDocumentIsComplete holds the document to what generators and
// linters need: valid OpenAPI 3, a license, and on every operation a
// unique camelCase operationId, a summary, a declared tag, a 4xx answer in
// the shared error shape and no catch-all default answer.
func TestOpenAPIDocumentIsComplete(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc.Info.License == nil || doc.Info.License.Name == "" {
		t.Error("info.license is missing")
	}
	tags := map[string]bool{}
	for _, tg := range doc.Tags {
		if tg.Description == "" {
			t.Errorf("tag %q has no description", tg.Name)
		}
		tags[tg.Name] = true
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		if path != "/" && strings.HasSuffix(path, "/") {
			t.Errorf("path %s ends with a slash", path)
		}
		for method, op := range item.Operations() {
			name := method + " " + path
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", name)
			case !camelCase.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", name, op.OperationID)
			case ids[op.OperationID] != "":
				t.Errorf("%s: operationId %q is also %s's", name, op.OperationID, ids[op.OperationID])
			}
			ids[op.OperationID] = name
			if op.Summary == "" {
				t.Errorf("%s has no summary", name)
			}
			if len(op.Tags) != 1 || !tags[op.Tags[0]] {
				t.Errorf("%s: tags %v, want one of the document's tags", name, op.Tags)
			}
			if op.Responses.Default() != nil {
				t.Errorf("%s has a default answer; list its statuses", name)
			}
			has4xx := false
			for status, r := range op.Responses.Map() {
				if !strings.HasPrefix(status, "4") {
					continue
				}
				has4xx = true
				if r.Value.Content.Get("application/json") == nil {
					t.Errorf("%s: answer %s has no JSON body", name, status)
				}
			}
			if !has4xx && !noClientError[op.OperationID] {
				t.Errorf("%s (%s) documents no 4xx answer", name, op.OperationID)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatal("the document has no operation")
	}
}

// TestOpenAPISchemasHaveShapes fails on an object schema that says
// nothing of its shape (no properties, no additionalProperties, no
// composition): a typed client can make nothing of it.
func TestOpenAPISchemasHaveShapes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var bare []string
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.SchemaRef)
	walk = func(where string, s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if v.Type.Is("object") && len(v.Properties) == 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil &&
			len(v.OneOf) == 0 && len(v.AnyOf) == 0 && len(v.AllOf) == 0 {
			bare = append(bare, where)
		}
		for n, p := range v.Properties {
			walk(where+"."+n, p)
		}
		walk(where+"[]", v.Items)
		walk(where+"{}", v.AdditionalProperties.Schema)
		for i, x := range append(append(append([]*openapi3.SchemaRef{}, v.OneOf...), v.AnyOf...), v.AllOf...) {
			walk(where+"|"+string(rune('0'+i)), x)
		}
	}
	for n, s := range doc.Components.Schemas {
		walk(n, s)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					if mt.Schema == nil {
						t.Errorf("%s: request body %s has no schema", name, ct)
					}
					walk(name+" request", mt.Schema)
				}
			}
			for status, r := range op.Responses.Map() {
				for ct, mt := range r.Value.Content {
					if mt.Schema == nil {
						t.Errorf("%s: answer %s %s has no schema", name, status, ct)
					}
					walk(name+" "+status, mt.Schema)
				}
			}
		}
	}
	sort.Strings(bare)
	for _, b := range bare {
		t.Errorf("%s is an object of no documented shape", b)
	}
}

// TestOpenAPIErrorCodes checks that every code the package answers (the
// string codes of Errorf calls and Error literals in its sources) is
// listed in the document's ErrorCode.
func TestOpenAPIErrorCodes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	codes := doc.Components.Schemas["ErrorCode"]
	if codes == nil {
		t.Fatal("the document has no ErrorCode schema")
	}
	listed := map[string]bool{}
	for _, v := range codes.Value.Enum {
		listed[v.(string)] = true
	}
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{egress.Code: true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "Errorf" && len(n.Args) > 1 {
					if lit, ok := n.Args[1].(*ast.BasicLit); ok {
						used[strings.Trim(lit.Value, `"`)] = true
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Code" {
					if lit, ok := n.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						used[strings.Trim(lit.Value, `"`)] = true
					}
				}
			}
			return true
		})
	}
	if len(used) < 10 {
		t.Fatalf("found only %d codes in the sources: %v", len(used), used)
	}
	for c := range used {
		if !listed[c] {
			t.Errorf("code %q is answered but not listed in ErrorCode", c)
		}
	}
}

// A job PATCH gives only the config keys it changes, or null to remove
// one; the document accepts what the API accepts, for every job type.
func TestOpenAPIJobPatchTakesPartialConfigs(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	patch := doc.Components.Schemas["JobPatch"].Value
	for _, body := range []string{
		`{"config": {"attribute_mode": "boolean"}}`,
		`{"config": {"identifier_field": "external_id", "attribute_prefix": null}}`,
		`{"config": {"exclude_pattern": "*.tmp", "on_failure": "move", "failed_folder": "/failed"}}`,
		`{"config": {"max_bad_row_share": null}}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if err := patch.VisitJSON(v); err != nil {
			t.Errorf("JobPatch refuses %s: %v", body, err)
		}
	}
	var bad any
	if err := json.Unmarshal([]byte(`{"config": {"attribute_mode": "sideways"}}`), &bad); err != nil {
		t.Fatal(err)
	}
	if err := patch.VisitJSON(bad); err == nil {
		t.Errorf(`JobPatch accepts {"config": {"attribute_mode": "sideways"}}, which no job type takes`)
	}
}

// TestErrorCodesDocumented holds docs/api.md's table of error codes and the
// ErrorCode schema's description to the codes the document lists: each
// code has a row and a sentence.
func TestErrorCodesDocumented(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	codes := doc.Components.Schemas["ErrorCode"].Value
	md, err := os.ReadFile(filepath.Join("..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range codes.Enum {
		c := v.(string)
		if !regexp.MustCompile("(?m)^\\| [0-9]{3} \\| `" + c + "` \\|").Match(md) {
			t.Errorf("docs/api.md's table of errors has no row for %q", c)
		}
		if !strings.Contains(codes.Description, "`"+c+"` (") {
			t.Errorf("the ErrorCode description says nothing of %q", c)
		}
	}
}
