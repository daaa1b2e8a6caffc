package api

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// The OpenAPI document is openapi.json plus the "paths" of every
// openapi_*.json fragment beside it (one per route group), merged at start.
//
//go:embed openapi.json openapi_*.json
var openapiFiles embed.FS

var openapiDoc = sync.OnceValues(func() ([]byte, error) {
	var doc map[string]any
	b, err := openapiFiles.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	paths := doc["paths"].(map[string]any)
	frags, err := fs.Glob(openapiFiles, "openapi_*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(frags)
	for _, f := range frags {
		fb, err := openapiFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var frag struct {
			Paths   map[string]any `json:"paths"`
			Schemas map[string]any `json:"schemas"`
		}
		if err := json.Unmarshal(fb, &frag); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for p, v := range frag.Paths {
			paths[p] = v
		}
		schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
		for n, v := range frag.Schemas {
			schemas[n] = v
		}
	}
	if err := addConfigPatchSchemas(doc["components"].(map[string]any)["schemas"].(map[string]any)); err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", " ")
})

// addConfigPatchSchemas derives JobConfigPatch from JobConfig: for each
// type's config schema, a copy in which no key is required and every key
// may be null, since a job PATCH gives only the keys it changes and null
// removes one. Deriving it keeps the two in step.
func addConfigPatchSchemas(schemas map[string]any) error {
	cfg, _ := schemas["JobConfig"].(map[string]any)
	anyOf, _ := cfg["anyOf"].([]any)
	if len(anyOf) == 0 {
		return fmt.Errorf("openapi: JobConfig has no anyOf of config schemas")
	}
	const prefix = "#/components/schemas/"
	refs := make([]any, 0, len(anyOf))
	for _, a := range anyOf {
		ref, _ := a.(map[string]any)["$ref"].(string)
		name := strings.TrimPrefix(ref, prefix)
		s, ok := schemas[name].(map[string]any)
		if !ok || name == ref {
			return fmt.Errorf("openapi: JobConfig names %q, which is not a schema of the document", ref)
		}
		patch := make(map[string]any, len(s))
		for k, v := range s {
			if k != "required" {
				patch[k] = v
			}
		}
		props, _ := s["properties"].(map[string]any)
		nullable := make(map[string]any, len(props))
		for k, v := range props {
			prop, _ := v.(map[string]any)
			if _, isRef := prop["$ref"]; isRef {
				nullable[k] = map[string]any{"allOf": []any{prop}, "nullable": true}
				continue
			}
			c := make(map[string]any, len(prop)+1)
			for pk, pv := range prop {
				c[pk] = pv
			}
			c["nullable"] = true
			nullable[k] = c
		}
		patch["properties"] = nullable
		patch["description"] = fmt.Sprintf("%s as a PATCH gives it: only the keys that change, null to remove one.", name)
		schemas[name+"Patch"] = patch
		refs = append(refs, map[string]any{"$ref": prefix + name + "Patch"})
	}
	schemas["JobConfigPatch"] = map[string]any{
		"description": "The keys of the job type's config that a PATCH changes: each given key replaces the stored one and null removes one.",
		"anyOf":       refs,
	}
	return nil
}

// OpenAPIDocument returns the document served at /openapi.json.
func OpenAPIDocument() ([]byte, error) { return openapiDoc() }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	b, err := openapiDoc()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}

// Undocumented reports whether a route pattern (as Router.Patterns gives
// it) is outside the API that the OpenAPI document describes: asynqmon at
// /monitoring/, a browser UI whose own pages and calls are not brazesync's
// API.
func Undocumented(pattern string) bool { return pattern == "/monitoring/" }

// MissingFromOpenAPI returns the route patterns (as Router.Patterns gives
// them) that the OpenAPI document does not describe, Undocumented ones
// aside.
func MissingFromOpenAPI(patterns []string) ([]string, error) {
	b, err := openapiDoc()
	if err != nil {
		return nil, err
	}
	var d struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range patterns {
		if Undocumented(p) {
			continue
		}
		method, path := "get", p
		if m, rest, ok := strings.Cut(p, " "); ok {
			method, path = strings.ToLower(m), rest
		}
		if _, ok := d.Paths[path][method]; !ok {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// UnservedInOpenAPI returns the operations of the OpenAPI document ("METHOD
// /path") that no route pattern (as Router.Patterns gives them) serves. A
// pattern without a method serves GET.
func UnservedInOpenAPI(patterns []string) ([]string, error) {
	b, err := openapiDoc()
	if err != nil {
		return nil, err
	}
	var d struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	served := map[string]bool{}
	for _, p := range patterns {
		if _, _, ok := strings.Cut(p, " "); !ok {
			p = "GET " + p
		}
		served[p] = true
	}
	var unserved []string
	for path, ops := range d.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if op := strings.ToUpper(method) + " " + path; !served[op] {
				unserved = append(unserved, op)
			}
		}
	}
	sort.Strings(unserved)
	return unserved, nil
}
