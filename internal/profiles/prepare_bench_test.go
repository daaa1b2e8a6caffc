package profiles

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPrepareBrazeRow maps, types and encodes one row of a Braze
// segment export as the CSV import hands it over (columns and values).
func BenchmarkPrepareBrazeRow(b *testing.B) {
	cols := []string{"Braze ID", "user_id", "email", "first_name", "last_name", "gender", "date_of_birth",
		"country", "city", "language", "phone_number", "time_zone", "created_at", "last_session",
		"session_count", "random_bucket", "in_app_purchase_total", "custom_tier"}
	rows := make([][]string, 64)
	for i := range rows {
		rows[i] = []string{fmt.Sprintf("%024x", i*7919), fmt.Sprintf("user-%08d", i), fmt.Sprintf("user%d@example.com", i),
			"François", "O'Brien", "F", "1984-03-12", "FR", "Paris", "fr", "+15551234567", "Europe/Paris",
			"2021-04-05 10:11:12 UTC", "2022-01-02 03:04:05 UTC", "42", "1234", "12.50", "gold"}
	}
	pr := compile(builtinMapping(BrazeUsersStream)).newPreparer(time.Now(), true)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := pr.prepare(Record{Columns: cols, Values: rows[i%len(rows)], EventTime: at}); err != nil {
			b.Fatal(err)
		}
	}
}
