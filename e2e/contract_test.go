package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The contract: every request the suite sends to the API and every answer
// it gets are held against the OpenAPI document the API serves
// (/openapi.json), in both modes.
//
//   - An answer must be one the document describes for the operation: a
//     documented status, content type and body. The document's objects
//     are open to clients (they ignore fields they do not know), but here
//     every object schema that lists its properties and says nothing of
//     others is closed, so an undocumented field fails the test.
//   - A request the document refuses (a missing required field, a wrong
//     type, a value outside an enum) may be sent on purpose, to test the
//     API's refusal: the API must then answer 4xx. An API that accepts it
//     disagrees with its document.
//   - A request for a path or method the document does not describe must
//     be refused by the router (404 or 405).
//
// Not held to it: the Braze simulator, asynqmon under /monitoring/.

// contract is the document of one API, ready to validate.
type contract struct {
	router routers.Router
}

// contracts holds the contract of each API base URL, loaded on first use.
var contracts = struct {
	sync.Mutex
	byBase map[string]*contractOnce
}{byBase: map[string]*contractOnce{}}

type contractOnce struct {
	once sync.Once
	c    *contract
	err  error
}

// registerContract makes calls to base (an API's URL) checked against the
// document it serves.
func registerContract(base string) {
	contracts.Lock()
	defer contracts.Unlock()
	if contracts.byBase[base] == nil {
		contracts.byBase[base] = &contractOnce{}
	}
}

func init() {
	// The collect endpoint and the profile upsert take newline-delimited
	// JSON: one object per line, validated as the string the document
	// describes.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
}

// contractFor returns the contract that holds for a request to u, or nil
// when none does (not an API, or a part of it outside the document).
func contractFor(t *testing.T, u string) *contract {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		return nil
	}
	base := p.Scheme + "://" + p.Host
	contracts.Lock()
	co := contracts.byBase[base]
	contracts.Unlock()
	if co == nil || strings.HasPrefix(p.Path, "/monitoring/") || p.Path == "/monitoring" {
		return nil
	}
	co.once.Do(func() { co.c, co.err = loadContract(base) })
	if co.err != nil {
		t.Fatalf("loading the OpenAPI document of %s: %v", base, co.err)
	}
	return co.c
}

// loadContract fetches base's /openapi.json and prepares it: valid, its
// object schemas closed, its servers dropped so that any host matches.
func loadContract(base string) (*contract, error) {
	resp, err := httpClient.Get(base + "/openapi.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	closeObjects(doc)
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &contract{router: r}, nil
}

// closeObjects forbids undocumented properties in every object schema
// that lists properties and leaves additionalProperties unsaid.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	no := false
	var walk func(s *openapi3.SchemaRef)
	walk = func(s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		v := s.Value
		seen[v] = true
		if len(v.Properties) > 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
			v.AdditionalProperties.Has = &no
		}
		for _, p := range v.Properties {
			walk(p)
		}
		walk(v.Items)
		walk(v.AdditionalProperties.Schema)
		for _, x := range v.OneOf {
			walk(x)
		}
		for _, x := range v.AnyOf {
			walk(x)
		}
		for _, x := range v.AllOf {
			walk(x)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			for _, r := range op.Responses.Map() {
				for _, mt := range r.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

// check is one request held against the contract: begin validates the
// request, end its answer.
type check struct {
	c      *contract
	opID   string // the operation, when the document has it
	input  *openapi3filter.RequestValidationInput
	route  error // the document has no such operation
	reqErr error // the request is not one the document describes
}

var contractOptions = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	SkipSettingDefaults:   true,
	MultiError:            true,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{
		openapi3.EnableFormatValidation(),
		openapi3.DisableSchemaErrorDetails(),
	},
}

// begin validates a request about to be sent with body.
func (c *contract) begin(req *http.Request, body []byte) *check {
	vr := req.Clone(context.Background())
	vr.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(vr)
	ck := &check{c: c}
	if err != nil {
		ck.route = err
		return ck
	}
	ck.opID = route.Operation.OperationID
	ck.input = &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: contractOptions}
	ck.reqErr = openapi3filter.ValidateRequest(context.Background(), ck.input)
	return ck
}

// end holds the answer to the contract; it returns what is wrong, or "".
func (ck *check) end(status int, header http.Header, body []byte) string {
	if ck.route != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return ""
		}
		return fmt.Sprintf("the document describes no such operation (%v), yet the API answered %d", ck.route, status)
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: ck.input, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: contractOptions,
	})
	var problems []string
	if err != nil {
		problems = append(problems, fmt.Sprintf("the answer is not one the document describes: %v", err))
	}
	if ck.reqErr != nil && status < 400 {
		problems = append(problems, fmt.Sprintf("the API answered %d to a request the document refuses: %v", status, ck.reqErr))
	}
	return strings.Join(problems, "\n")
}
