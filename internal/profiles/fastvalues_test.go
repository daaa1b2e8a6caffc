package profiles

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTypedStringMatchesTypedValue holds the fast paths to the general
// conversion, on the shapes they take and on near misses.
func TestTypedStringMatchesTypedValue(t *testing.T) {
	t.Parallel()
	inputs := []string{
		"", " ", "0", "-0", "7", "-7", "123456", "1234567", "012", "1.5", "12.50", "1e3", " 5", "5 ", "abc", "-",
		"2020-03-04T05:06:07Z", "2020-03-04 05:06:07 UTC", "2020-02-29 23:59:59 UTC", "2021-02-29 00:00:00 UTC",
		"2020-13-01T00:00:00Z", "2020-01-01T24:00:00Z", "2020-01-01T23:60:00Z", "2020-01-01T23:59:60Z",
		"2020-01-01 00:00:00 GMT", "2020-01-01T00:00:00+02:00", "2020-01-01T00:00:00.5Z", "2020-1-01T00:00:00Z",
		"1982-01-01", "19820101", "19821301", "19820230", "2000-02-29", "1900-02-29", "1982/01/01", "01/02/2006",
		"0000-01-01", "9999-12-31", "2020-01-0a", "2020x01-01",
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		inputs = append(inputs,
			fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d UTC", r.IntN(3000), r.IntN(14), r.IntN(33), r.IntN(26), r.IntN(62), r.IntN(62)),
			fmt.Sprintf("%04d%02d%02d", r.IntN(3000), r.IntN(14), r.IntN(33)),
			fmt.Sprint(r.IntN(2000000)-1000000))
	}
	for _, ft := range []FieldType{TypeString, TypeNumber, TypeTimestamp, TypeDate, TypeBoolean} {
		for _, s := range inputs {
			c1, t1, ok1, err1 := typedString(ft, s)
			c2, t2, ok2, err2 := typedValue(ft, s)
			if c1 != c2 || t1 != t2 || ok1 != ok2 || (err1 == nil) != (err2 == nil) {
				t.Errorf("%s %q: fast (%c %q %v %v), general (%c %q %v %v)", ft, s, c1, t1, ok1, err1, c2, t2, ok2, err2)
			}
		}
	}
}
