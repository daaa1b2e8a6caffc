package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// brazeHeader is the header of the generated segment export: 18 columns,
// 3 identities (Braze ID, user_id, email) in the braze_users mapping.
const brazeHeader = `"Braze ID",user_id,email,first_name,last_name,gender,date_of_birth,country,city,language,phone_number,time_zone,created_at,last_session,session_count,random_bucket,in_app_purchase_total,custom_tier`

// brazeColumns is the number of columns of brazeHeader.
const brazeColumns = 18

// writeBrazeCSV writes a Braze-shaped CSV of rows rows (about 200 bytes
// each) to path; the same rows every time (fixed seed).
func writeBrazeCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	first := []string{"Ana", "Bo", "Chloé", "Dmitri", "Eve", "François", "Gita", "Hiro"}
	last := []string{"Smith", "García", "Müller", "Nguyen", "O'Brien", "Rossi", "Tanaka"}
	cities := []string{"Paris", "New York", "São Paulo", "Berlin", "Tokyo", "Lagos", `"Austin, TX"`}
	countries := []string{"US", "FR", "BR", "DE", "JP", "NG"}
	langs := []string{"en", "fr", "pt", "de", "ja"}
	zones := []string{"America/New_York", "Europe/Paris", "America/Sao_Paulo", "Europe/Berlin", "Asia/Tokyo", "Africa/Lagos"}
	tiers := []string{"bronze", "silver", "gold", "platinum", ""}
	const ts = "2006-01-02 15:04:05 UTC"
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(w, brazeHeader)
	for i := range rows {
		created := base.Add(time.Duration(r.IntN(1500*24*3600)) * time.Second)
		lastSeen := created.Add(time.Duration(r.IntN(300*24*3600)) * time.Second)
		c := r.IntN(len(countries))
		purchases := ""
		if r.IntN(3) == 0 {
			purchases = fmt.Sprintf("%d.%02d", r.IntN(500), r.IntN(100))
		}
		fmt.Fprintf(w, "%024x,user-%08d,user%d@example.com,%s,%s,%s,%04d-%02d-%02d,%s,%s,%s,+1555%07d,%s,%s,%s,%d,%d,%s,%s\n",
			r.Uint64()<<32|uint64(i), i, i, first[r.IntN(len(first))], last[r.IntN(len(last))],
			[]string{"M", "F", "O", ""}[r.IntN(4)], 1950+r.IntN(55), 1+r.IntN(12), 1+r.IntN(28),
			countries[c], cities[r.IntN(len(cities))], langs[r.IntN(len(langs))], r.IntN(10000000),
			zones[c], created.Format(ts), lastSeen.Format(ts), r.IntN(500), r.IntN(10000),
			purchases, tiers[r.IntN(len(tiers))])
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if strings.Count(brazeHeader, ",")+1 != brazeColumns {
		return fmt.Errorf("generator: header has %d columns, want %d", strings.Count(brazeHeader, ",")+1, brazeColumns)
	}
	return nil
}
