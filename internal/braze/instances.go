package braze

import (
	"fmt"
	"sort"
	"strings"
)

// instances maps Braze instance names (upper case) to REST endpoints, from
// Braze's documentation of its instances. There is no US-09.
var instances = map[string]string{
	"US-01": "https://rest.iad-01.braze.com",
	"US-02": "https://rest.iad-02.braze.com",
	"US-03": "https://rest.iad-03.braze.com",
	"US-04": "https://rest.iad-04.braze.com",
	"US-05": "https://rest.iad-05.braze.com",
	"US-06": "https://rest.iad-06.braze.com",
	"US-07": "https://rest.iad-07.braze.com",
	"US-08": "https://rest.iad-08.braze.com",
	"US-10": "https://rest.us-10.braze.com",
	"EU-01": "https://rest.fra-01.braze.eu",
	"EU-02": "https://rest.fra-02.braze.eu",
	"AU-01": "https://rest.au-01.braze.com",
	"ID-01": "https://rest.id-01.braze.com",
	"JP-01": "https://rest.jp-01.braze.com",
	"KR-01": "https://rest.kr-01.braze.com",
}

// Instances returns the known instance names, sorted.
func Instances() []string {
	names := make([]string, 0, len(instances))
	for n := range instances {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// InstanceEndpoint returns the REST endpoint of a Braze instance name such as
// "US-03" or "eu-01" (case-insensitive).
func InstanceEndpoint(name string) (string, error) {
	if ep, ok := instances[strings.ToUpper(strings.TrimSpace(name))]; ok {
		return ep, nil
	}
	return "", fmt.Errorf("unknown Braze instance %q: valid instances are %s", name, strings.Join(Instances(), ", "))
}
