package client_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/brazesync/brazesync/api"
	"github.com/brazesync/brazesync/client"
	"github.com/getkin/kin-openapi/openapi3"
)

// operation is an operation of the document and the client method named
// after its operationId.
type operation struct {
	id, method, path string
	op               *openapi3.Operation
}

func loadDocument(t *testing.T) []operation {
	t.Helper()
	b, err := api.OpenAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{id: op.OperationID, method: method, path: path, op: op})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id })
	return ops
}

// methodName is the client method of an operationId: createJob is
// CreateJob.
func methodName(operationID string) string {
	if operationID == "" {
		return ""
	}
	return strings.ToUpper(operationID[:1]) + operationID[1:]
}

// TestEveryOperationHasAMethod fails when an operation of the document
// has no client method, or a client method no operation.
func TestEveryOperationHasAMethod(t *testing.T) {
	t.Parallel()
	ct := reflect.TypeFor[*client.Client]()
	methods := map[string]bool{}
	for m := range ct.Methods() {
		methods[m.Name] = true
	}
	documented := map[string]bool{}
	for _, o := range loadDocument(t) {
		name := methodName(o.id)
		documented[name] = true
		if !methods[name] {
			t.Errorf("%s %s (%s) has no client method %s", strings.ToUpper(o.method), o.path, o.id, name)
		}
	}
	for m := range methods {
		if !documented[m] {
			t.Errorf("client method %s is no operation of the document", m)
		}
	}
}

// TestTypesMatchTheDocument holds the client's request and answer types
// against the document's schemas, field by field: a property the client
// lacks, or a field the document lacks, fails.
func TestTypesMatchTheDocument(t *testing.T) {
	t.Parallel()
	ct := reflect.TypeFor[*client.Client]()
	for _, o := range loadDocument(t) {
		m, ok := ct.MethodByName(methodName(o.id))
		if !ok {
			continue // TestEveryOperationHasAMethod says so
		}
		// The answer: the first result, against the 2xx JSON schema.
		if m.Type.NumOut() == 2 {
			if s := successSchema(o.op); s != nil {
				compare(t, o.id+" answer", s, m.Type.Out(0), map[reflect.Type]bool{})
			}
		}
		// The request body: the one argument of struct or slice type.
		if o.op.RequestBody != nil {
			mt := o.op.RequestBody.Value.Content.Get("application/json")
			var body reflect.Type
			for i := 2; i < m.Type.NumIn(); i++ {
				in := m.Type.In(i)
				if in.Kind() == reflect.Struct || in.Kind() == reflect.Slice {
					body = in
				}
			}
			switch {
			case body == nil:
				t.Errorf("%s takes a body but %s has no body argument", o.id, m.Name)
			case mt != nil:
				compare(t, o.id+" body", mt.Schema, body, map[reflect.Type]bool{})
			}
		}
	}
}

func successSchema(op *openapi3.Operation) *openapi3.SchemaRef {
	for status, r := range op.Responses.Map() {
		if strings.HasPrefix(status, "2") {
			if mt := r.Value.Content.Get("application/json"); mt != nil {
				return mt.Schema
			}
		}
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// compare holds a Go type against a schema.
func compare(t *testing.T, where string, s *openapi3.SchemaRef, typ reflect.Type, seen map[reflect.Type]bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if s == nil || s.Value == nil || typ == timeType || typ.Kind() == reflect.Interface {
		return
	}
	v := s.Value
	if len(v.AllOf) == 1 && len(v.Properties) == 0 {
		v = v.AllOf[0].Value
	}
	props := map[string]*openapi3.SchemaRef{}
	for n, p := range v.Properties {
		props[n] = p
	}
	for _, x := range append(append([]*openapi3.SchemaRef{}, v.AnyOf...), v.OneOf...) {
		for n, p := range x.Value.Properties {
			props[n] = p
		}
	}
	switch typ.Kind() {
	case reflect.Slice:
		if data, ok := props["data"]; ok && len(props) == 1 {
			compare(t, where+".data", data, typ, seen) // a listing answers its data
			return
		}
		if v.Items != nil {
			compare(t, where+"[]", v.Items, typ.Elem(), seen)
		}
	case reflect.Map:
		if v.AdditionalProperties.Schema != nil {
			compare(t, where+"{}", v.AdditionalProperties.Schema, typ.Elem(), seen)
		}
	case reflect.Struct:
		if seen[typ] {
			return
		}
		seen[typ] = true
		defer delete(seen, typ)
		fields := jsonFields(typ)
		for n, f := range fields {
			p, ok := props[n]
			if !ok {
				t.Errorf("%s: client field %s.%s (%q) is not in the document", where, typ.Name(), f.Name, n)
				continue
			}
			compare(t, where+"."+n, p, f.Type, seen)
		}
		for n := range props {
			if _, ok := fields[n]; !ok {
				t.Errorf("%s: property %q of the document has no field in %s", where, n, typ.Name())
			}
		}
	}
}

// jsonFields are a struct's fields by JSON name, embedded structs' fields
// included.
func jsonFields(typ reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			for n, ef := range jsonFields(f.Type) {
				out[n] = ef
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}
