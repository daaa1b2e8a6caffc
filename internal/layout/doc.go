// Package layout holds the test of brazesync's package map
// (docs/architecture-packages.md): which packages may import which. It has
// no code of its own.
package layout
