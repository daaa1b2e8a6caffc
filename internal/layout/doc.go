// Package layout holds the test of brazesync's package map
// (docs/architecture.md, Packages): which packages may import which. It has
// no code of its own.
package layout
