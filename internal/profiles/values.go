package profiles

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Stored values are "<event time ms>|<code><text>" so that every profile field
// carries its own timestamp in one hash field. Codes:
//
//	s string, n number, b boolean ("1"/"0"), d date (2006-01-02),
//	t timestamp (RFC 3339, UTC), a list of strings (JSON array).
const (
	codeString    = 's'
	codeNumber    = 'n'
	codeBool      = 'b'
	codeDate      = 'd'
	codeTimestamp = 't'
	codeList      = 'a'
)

const dateLayout = "2006-01-02"

// dateLayouts are tried in order when a date arrives as a string.
var dateLayouts = []string{"20060102", dateLayout, "2006/01/02", "01/02/2006", "1/2/2006"}

// timestampLayouts are tried in order when a timestamp arrives as a string.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 MST",
	time.RFC1123Z,
	time.RFC1123,
	dateLayout,
}

// typedValue converts v to type t and returns its code and text. ok is false
// for values that count as absent (nil, empty strings).
func typedValue(t FieldType, v any) (code byte, text string, ok bool, err error) {
	if s, isStr := v.(string); isStr {
		if strings.TrimSpace(s) == "" {
			return 0, "", false, nil
		}
	}
	if v == nil {
		return 0, "", false, nil
	}
	switch t {
	case TypeNumber:
		f, err := toNumber(v)
		if err != nil {
			return 0, "", false, err
		}
		return codeNumber, strconv.FormatFloat(f, 'g', -1, 64), true, nil
	case TypeBoolean:
		b, err := toBool(v)
		if err != nil {
			return 0, "", false, err
		}
		if b {
			return codeBool, "1", true, nil
		}
		return codeBool, "0", true, nil
	case TypeDate:
		d, err := toDate(v)
		if err != nil {
			return 0, "", false, err
		}
		return codeDate, d.Format(dateLayout), true, nil
	case TypeTimestamp:
		ts, err := toTimestamp(v)
		if err != nil {
			return 0, "", false, err
		}
		return codeTimestamp, ts.UTC().Format(time.RFC3339Nano), true, nil
	default:
		s, err := toString(v)
		if err != nil {
			return 0, "", false, err
		}
		return codeString, s, true, nil
	}
}

// inferredValue keeps an unmapped value with the type its JSON has.
func inferredValue(v any) (code byte, text string, ok bool) {
	switch x := v.(type) {
	case nil:
		return 0, "", false
	case string:
		if strings.TrimSpace(x) == "" {
			return 0, "", false
		}
		return codeString, x, true
	case bool:
		if x {
			return codeBool, "1", true
		}
		return codeBool, "0", true
	case float64, float32, int, int64, int32, uint, uint64, uint32, json.Number:
		if f, err := toNumber(x); err == nil {
			return codeNumber, strconv.FormatFloat(f, 'g', -1, 64), true
		}
		return codeString, fmt.Sprint(x), true
	case time.Time:
		return codeTimestamp, x.UTC().Format(time.RFC3339Nano), true
	case []string:
		b, _ := json.Marshal(x)
		return codeList, string(b), true
	case []any:
		list := make([]string, 0, len(x))
		for _, e := range x {
			s, isStr := e.(string)
			if !isStr {
				b, _ := json.Marshal(x)
				return codeString, string(b), true
			}
			list = append(list, s)
		}
		b, _ := json.Marshal(list)
		return codeList, string(b), true
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return codeString, fmt.Sprint(x), true
		}
		return codeString, string(b), true
	}
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return strconv.Quote(x)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T %v", v, v)
}

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("want a string, got %s", describe(v))
}

func toNumber(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	case json.Number:
		p, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("want a number, got %s", describe(string(x)))
		}
		f = p
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number, got %s", describe(v))
		}
		f = p
	default:
		return 0, fmt.Errorf("want a number, got %s", describe(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a finite number, got %v", f)
	}
	return f, nil
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "yes", "y", "1":
			return true, nil
		case "false", "f", "no", "n", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("want a boolean, got %s", describe(v))
}

func toDate(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		y, m, d := x.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case float64:
		if x == math.Trunc(x) && x >= 10000101 && x <= 99991231 {
			return toDate(strconv.FormatFloat(x, 'f', 0, 64))
		}
	case json.Number:
		return toDate(string(x))
	case string:
		s := strings.TrimSpace(x)
		for _, l := range dateLayouts {
			if d, err := time.Parse(l, s); err == nil {
				return d, nil
			}
		}
		if ts, err := toTimestamp(s); err == nil {
			return toDate(ts.UTC())
		}
	}
	return time.Time{}, fmt.Errorf("want a date such as 19820101 or 1982-01-01, got %s", describe(v))
}

func toTimestamp(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case float64:
		return unixTime(x), nil
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return unixTime(f), nil
		}
	case string:
		s := strings.TrimSpace(x)
		// Braze's CSV export writes "2006-01-02 15:04:05 UTC": try its
		// layout first rather than after five failed parses.
		if len(s) == 23 && s[10] == ' ' && strings.HasSuffix(s, " UTC") {
			if ts, err := time.Parse("2006-01-02 15:04:05 MST", s); err == nil {
				return ts, nil
			}
		}
		for _, l := range timestampLayouts {
			if ts, err := time.Parse(l, s); err == nil {
				return ts, nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return unixTime(f), nil
		}
	}
	return time.Time{}, fmt.Errorf("want a timestamp (RFC 3339 or unix seconds/milliseconds), got %s", describe(v))
}

// unixTime reads f as unix seconds, or milliseconds when it is too large to be
// seconds (after the year 5138).
func unixTime(f float64) time.Time {
	if math.Abs(f) >= 1e11 {
		return time.UnixMilli(int64(f)).UTC()
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// decodeValue reads a stored "<ms>|<code><text>" value.
func decodeValue(stored string) (v any, ts time.Time, ok bool) {
	bar := strings.IndexByte(stored, '|')
	if bar < 0 || bar+1 >= len(stored) {
		return nil, time.Time{}, false
	}
	ms, err := strconv.ParseInt(stored[:bar], 10, 64)
	if err != nil {
		return nil, time.Time{}, false
	}
	ts = time.UnixMilli(ms).UTC()
	code, text := stored[bar+1], stored[bar+2:]
	switch code {
	case codeString:
		return text, ts, true
	case codeNumber:
		f, err := strconv.ParseFloat(text, 64)
		return f, ts, err == nil
	case codeBool:
		return text == "1", ts, true
	case codeDate:
		d, err := time.Parse(dateLayout, text)
		return d, ts, err == nil
	case codeTimestamp:
		t, err := time.Parse(time.RFC3339Nano, text)
		return t, ts, err == nil
	case codeList:
		var list []string
		err := json.Unmarshal([]byte(text), &list)
		return list, ts, err == nil
	}
	return nil, ts, false
}
