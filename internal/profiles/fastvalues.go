package profiles

import "strings"

// typedString is typedValue for a value that arrived as a string (every CSV
// cell, most webhook fields): the same results, without boxing the string
// and, for the shapes Braze sends most (small integers, RFC 3339 and Braze
// export timestamps, ISO and compact dates), without time.Parse and Format.
func typedString(t FieldType, s string) (code byte, text string, ok bool, err error) {
	switch t {
	case TypeString:
		if strings.TrimSpace(s) == "" {
			return 0, "", false, nil
		}
		return codeString, s, true, nil
	case TypeNumber:
		if smallInteger(s) {
			return codeNumber, s, true, nil
		}
	case TypeTimestamp:
		if text, ok := utcSeconds(s); ok {
			return codeTimestamp, text, true, nil
		}
	case TypeDate:
		if text, ok := plainDate(s); ok {
			return codeDate, text, true, nil
		}
	}
	return typedValue(t, s)
}

// smallInteger reports whether s is an integer of one to six digits without
// a leading zero (or "0"), optionally negative: the numbers that
// strconv.FormatFloat(f, 'g', -1, 64) writes back digit for digit.
func smallInteger(s string) bool {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
		if d == "0" {
			return false // -0 stays "-0" in FormatFloat but is rare: take the slow path
		}
	}
	if len(d) == 0 || len(d) > 6 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// utcSeconds reads "2006-01-02T15:04:05Z" and Braze's export form
// "2006-01-02 15:04:05 UTC", and returns the stored (RFC 3339, UTC) text.
func utcSeconds(s string) (string, bool) {
	switch {
	case len(s) == 20 && s[10] == 'T' && s[19] == 'Z':
		if validClock(s[11:19]) && validDate(s[:10]) {
			return s, true
		}
	case len(s) == 23 && s[10] == ' ' && s[19:] == " UTC":
		if validClock(s[11:19]) && validDate(s[:10]) {
			return s[:10] + "T" + s[11:19] + "Z", true
		}
	}
	return "", false
}

// plainDate reads "2006-01-02" and "20060102" and returns "2006-01-02".
func plainDate(s string) (string, bool) {
	switch len(s) {
	case 10:
		if validDate(s) {
			return s, true
		}
	case 8:
		d := s[:4] + "-" + s[4:6] + "-" + s[6:]
		if validDate(d) {
			return d, true
		}
	}
	return "", false
}

// validDate checks "YYYY-MM-DD" as time.Parse does: a real day of the month.
func validDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// validClock checks "15:04:05".
func validClock(s string) bool {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	return ok1 && ok2 && ok3 && h < 24 && m < 60 && sec < 60
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
