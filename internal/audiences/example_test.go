package audiences_test

import (
	"encoding/json"
	"fmt"

	"github.com/brazesync/brazesync/internal/audiences"
)

// A rule is JSON; a bad node is reported with its path.
func ExampleParseRule() {
	_, err := audiences.ParseRule(json.RawMessage(`{"and": [
		{"field": "country", "op": "eq", "value": "FR"},
		{"field": "last_seen", "op": "within_last", "days": 7},
		{"or": [{"field": "score", "op": "gte", "value": "high"}]}
	]}`))
	fmt.Println(err)
	// Output: rule.and[2].or[0].value: op "gte" needs a number or a date (2006-01-02 or RFC 3339)
}
