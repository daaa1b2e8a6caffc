package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendSuccessIsWhatEncodingJSONWrites(t *testing.T) {
	for _, d := range []ResponseData{{MessageCount: 1}, {MessageCount: 120, RejectedCount: 3}, {}} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(Response{Status: 200, Message: "success", Data: &d}); err != nil {
			t.Fatal(err)
		}
		if got := appendSuccess(nil, &d); string(got) != want.String() {
			t.Errorf("appendSuccess(%+v) = %s, encoding/json writes %s", d, got, want.String())
		}
	}
}
