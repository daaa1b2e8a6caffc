package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/brazesync/brazesync/client"
	"github.com/brazesync/brazesync/internal/cli"
)

// testFailed is a connection test that answered ok false.
type testFailed struct {
	code, msg string
}

func (e *testFailed) Error() string { return "test failed: " + e.code + ": " + e.msg }

func (e *env) authCommand() *cli.Command {
	return &cli.Command{Name: "auth", Summary: "authorizations: Braze and SFTP credentials", Usage: authUsage,
		Commands: []*cli.Command{
			{Name: "create", Summary: "create one from a JSON or YAML file, or from flags", Usage: authCreateUsage, Run: e.authCreate},
			{Name: "list", Summary: "list them", Usage: authListUsage, Run: e.authList},
			{Name: "show", Summary: "show one (never its secrets)", Usage: authShowUsage, Run: e.authShow},
			{Name: "test", Summary: "test an SFTP one against its server", Usage: authTestUsage, Run: e.authTest(false)},
			{Name: "pin", Summary: "pin the host key an SFTP server presents", Usage: authPinUsage, Run: e.authTest(true)},
		}}
}

func (e *env) authCreate(ctx context.Context, args []string) error {
	f := newFlags("auth create", true)
	file := f.fs.String("file", "", "")
	typ := f.fs.String("type", "", "")
	label := f.fs.String("label", "", "")
	desc := f.fs.String("description", "", "")
	var cfg, secrets, secretFiles kvList
	f.fs.Var(&cfg, "config", "")
	f.fs.Var(&secrets, "secret", "")
	f.fs.Var(&secretFiles, "secret-file", "")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	var in client.AuthorizationInput
	switch {
	case *file != "" && (*typ != "" || len(cfg)+len(secrets)+len(secretFiles) > 0):
		return cli.Usagef("give --file or --type with --config and --secret, not both")
	case *file != "":
		if err := e.readDocument(*file, &in); err != nil {
			return err
		}
	case *typ == "":
		return cli.Usagef("give --file FILE, or --type TYPE")
	default:
		in = client.AuthorizationInput{Type: *typ, Label: *label, Description: *desc}
		if len(cfg) > 0 {
			in.Config = &client.AuthorizationConfig{}
			if err := remarshal(cfg.values(), in.Config); err != nil {
				return cli.Usagef("--config: %v", err)
			}
		}
		sec := map[string]any{}
		for k, v := range secrets.values() {
			sec[k] = fmt.Sprint(v)
		}
		for _, kv := range secretFiles {
			k, path, _ := strings.Cut(kv, "=")
			b, err := os.ReadFile(path)
			if err != nil {
				return cli.Usagef("--secret-file %s: %v", k, err)
			}
			sec[k] = string(b)
		}
		if len(sec) > 0 {
			in.Secrets = &client.AuthorizationSecrets{}
			if err := remarshal(sec, in.Secrets); err != nil {
				return cli.Usagef("--secret: %v", err)
			}
		}
	}
	c, acct, err := e.accountClient(f)
	if err != nil {
		return err
	}
	a, err := c.CreateAuthorization(ctx, acct, in)
	if err != nil {
		return err
	}
	return e.print(f, a, func(w io.Writer) {
		authTable(w, &a.Authorization)
		if a.ShownOnce != nil {
			row(w, "password", a.ShownOnce.Password+"  (shown once, keep it)")
		}
	})
}

// remarshal moves m into v, a pointer to a struct, through JSON, strictly:
// a key v has no field for is named with the keys it has, a value of the
// wrong kind with its key.
func remarshal(m map[string]any, v any) error {
	known := jsonKeys(reflect.TypeOf(v).Elem())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			return fmt.Errorf("unknown key %q (known keys: %s)", k, strings.Join(known, ", "))
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(decodeProblem(err))
	}
	return nil
}

// decodeProblem says what encoding/json found wrong in a document in the
// document's terms: the key and the kind of value it takes, never a Go
// type.
func decodeProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) {
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	want := "another kind of value"
	switch ute.Type.Kind() {
	case reflect.Struct, reflect.Map:
		want = "an object"
	case reflect.Slice, reflect.Array:
		want = "a list"
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a whole number"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	}
	got := map[string]string{"string": "a string", "number": "a number", "array": "a list", "object": "an object", "bool": "true or false"}[ute.Value]
	if got == "" {
		got = ute.Value // "number 1.5"
	}
	if ute.Field == "" {
		return fmt.Sprintf("the document must be %s, not %s", want, got)
	}
	return fmt.Sprintf("%s must be %s, not %s", ute.Field, want, got)
}

// jsonKeys returns the JSON names of the fields of struct t, in order.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func (e *env) authList(ctx context.Context, args []string) error {
	f := newFlags("auth list", true)
	return listAll(ctx, e, f, args, (*client.Client).ListAuthorizations, func(w io.Writer, list []client.Authorization) {
		row(w, "ID", "TYPE", "LABEL", "DESTINATION", "SECRETS")
		for _, a := range list {
			row(w, a.ID, a.Type, orDash(a.Label), destination(&a), orDash(strings.Join(a.SecretsSet, ",")))
		}
	})
}

// destination is where an authorization points.
func destination(a *client.Authorization) string {
	cfg := a.Config
	switch {
	case cfg.RestEndpoint != "":
		return cfg.RestEndpoint
	case cfg.Instance != "":
		return cfg.Instance
	case cfg.Host != "":
		s := cfg.Username + "@" + cfg.Host
		if cfg.Port != 0 {
			s += fmt.Sprintf(":%d", cfg.Port)
		}
		return s
	}
	return "-"
}

func (e *env) authShow(ctx context.Context, args []string) error {
	return showOne(ctx, e, newFlags("auth show", true), args, (*client.Client).GetAuthorization, authTable)
}

func authTable(w io.Writer, a *client.Authorization) {
	row(w, "id", a.ID)
	row(w, "type", a.Type)
	row(w, "label", orDash(a.Label))
	if a.Description != "" {
		row(w, "description", a.Description)
	}
	row(w, "destination", destination(a))
	var cfg map[string]any
	if b, err := json.Marshal(a.Config); err == nil && json.Unmarshal(b, &cfg) == nil {
		for _, k := range sortedKeys(cfg) {
			row(w, "config "+k, fmt.Sprint(cfg[k]))
		}
	}
	row(w, "secrets set", orDash(strings.Join(a.SecretsSet, ",")))
	row(w, "created", when(&a.CreatedAt))
	row(w, "updated", when(&a.UpdatedAt))
}

// authTest tests an authorization (pin: and pins the host key of an
// unpinned one). A failed test prints its outcome and exits ExitRefused.
func (e *env) authTest(pin bool) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		f := newFlags("auth test", true)
		pos, err := f.parse(args, 1, 1)
		if err != nil {
			return err
		}
		c, acct, err := e.accountClient(f)
		if err != nil {
			return err
		}
		res, err := c.TestAuthorization(ctx, acct, pos[0], pin)
		if err != nil {
			return err
		}
		if err := e.print(f, res, func(w io.Writer) { testTable(w, res) }); err != nil {
			return err
		}
		if !res.OK {
			return &testFailed{code: res.Code, msg: res.Error}
		}
		return nil
	}
}

func testTable(w io.Writer, t *client.AuthorizationTest) {
	if t.OK {
		row(w, "ok", "true")
	} else {
		row(w, "ok", "false")
		row(w, "code", t.Code)
		row(w, "error", t.Error)
	}
	r := t.Result
	if r == nil {
		return
	}
	row(w, "server", fmt.Sprintf("%s@%s:%d", r.Username, r.Host, r.Port))
	row(w, "host key", orDash(r.HostKeyFingerprint))
	if r.PinnedFingerprint != "" {
		row(w, "pinned key", r.PinnedFingerprint)
	}
	row(w, "host key pinned", fmt.Sprint(r.HostKeyPinned))
	row(w, "logged in", fmt.Sprint(r.Authenticated))
	if r.Folder != "" {
		row(w, "folder", fmt.Sprintf("%s (%d files)", r.Folder, r.Files))
	}
	if r.Message != "" {
		row(w, "message", r.Message)
	}
}
