package braze

import (
	"context"
	"encoding/json"
)

// TrackResult is Braze's answer to an accepted request.
type TrackResult struct {
	// Status is the HTTP status.
	Status int
	// Message is Braze's "message": "success", or "queued" during
	// maintenance.
	Message string
	// Queued reports a 202 {"message": "queued"}: accepted for later
	// processing.
	Queued bool
	// AttributesProcessed is Braze's count, or -1 when the answer had none.
	AttributesProcessed int
	// Errors are the objects Braze rejected, mapped back to the batch.
	Errors []ObjectError
	// RateLimit holds the X-RateLimit-* headers.
	RateLimit RateLimit
}

// ObjectError is one item of Braze's "errors" array.
type ObjectError struct {
	// Type is Braze's description of the problem.
	Type string
	// InputArray is "attributes", "events" or "purchases".
	InputArray string
	// Index is the object's index in the batch, or -1 when the item names
	// no object of the batch.
	Index int
	// ID identifies the user of the object, when Index is known.
	ID Identifier
	// Raw is the item exactly as Braze sent it.
	Raw json.RawMessage
}

// answer is Braze's JSON answer.
type answer struct {
	Message             string            `json:"message"`
	AttributesProcessed *int              `json:"attributes_processed"`
	Errors              []json.RawMessage `json:"errors"`
}

// mapErrors maps the items of "errors" to the batch's objects. The item
// shape is not documented; {"type", "input_array", "index"} is expected and
// anything else is kept raw, with Index -1, and logged.
func (c *Client) mapErrors(ctx context.Context, b Batch, items []json.RawMessage) []ObjectError {
	if len(items) == 0 {
		return nil
	}
	out := make([]ObjectError, 0, len(items))
	for _, raw := range items {
		oe := ObjectError{Index: -1, Raw: raw}
		var item struct {
			Type       any    `json:"type"`
			InputArray string `json:"input_array"`
			Index      *int   `json:"index"`
		}
		if err := json.Unmarshal(raw, &item); err == nil {
			switch t := item.Type.(type) {
			case string:
				oe.Type = t
			case nil:
			default:
				tb, _ := json.Marshal(t)
				oe.Type = string(tb)
			}
			oe.InputArray = item.InputArray
			inAttributes := item.InputArray == "" || item.InputArray == "attributes"
			if item.Index != nil && inAttributes && *item.Index >= 0 && *item.Index < len(b.Objects) {
				oe.Index = *item.Index
				oe.ID = b.Objects[oe.Index].ID
			}
		} else {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				oe.Type = s
			}
		}
		if oe.Index < 0 {
			c.log.WarnContext(ctx, "braze error item names no object of the batch", "item", string(raw))
		}
		out = append(out, oe)
	}
	return out
}
