package embeddedredis

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// bitfieldScript runs the GET and SET operations of one BITFIELD command
// with GETBIT and SETBIT, so that it is queued inside MULTI and runs
// atomically like any script.
//
// KEYS[1]: the string key.
// ARGV: one record per operation: "G", offset, width, signed ("1" or "0"),
// or "S", offset, width, signed, and the new value's bits, most significant
// first ("0101...").
// Returns the value each operation read (for SET, the value it replaced).
// Values wider than 53 bits are returned rounded, since Lua numbers are
// doubles; brazesync reads single bits only.
const bitfieldScript = `
local out = {}
local i = 1
while i <= #ARGV do
  local op, off, width, signed = ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2]), ARGV[i+3] == '1'
  local bits = nil
  if op == 'S' then bits = ARGV[i+4]; i = i + 5 else i = i + 4 end
  local v = 0
  for b = 0, width - 1 do
    local old
    if bits then
      old = redis.call('SETBIT', KEYS[1], off + b, string.sub(bits, b + 1, b + 1))
    else
      old = redis.call('GETBIT', KEYS[1], off + b)
    end
    v = v * 2 + old
  end
  if signed and width > 0 and v >= 2 ^ (width - 1) then
    v = v - 2 ^ width
  end
  out[#out + 1] = v
end
return out
`

// registerBitfield gives m the BITFIELD and BITFIELD_RO commands (GET and
// SET only; OVERFLOW is accepted and has no effect since SET wraps anyway).
// Each is run as the script above, so it behaves inside MULTI and is atomic.
func registerBitfield(m *miniredis.Miniredis) error {
	srv := m.Server()
	handler := func(readOnly bool) server.Cmd {
		return func(c *server.Peer, cmd string, args []string) {
			if len(args) == 0 {
				c.WriteError(fmt.Sprintf("ERR wrong number of arguments for '%s' command", strings.ToLower(cmd)))
				return
			}
			argv, refusal := bitfieldArgs(args[1:], readOnly)
			if refusal != "" {
				c.WriteError(refusal)
				return
			}
			srv.Dispatch(c, append([]string{"EVAL", bitfieldScript, "1", args[0]}, argv...))
		}
	}
	if err := srv.Register("BITFIELD", handler(false)); err != nil {
		return fmt.Errorf("registering BITFIELD on the embedded Redis: %w", err)
	}
	if err := srv.Register("BITFIELD_RO", handler(true), server.ReadOnlyOption()); err != nil {
		return fmt.Errorf("registering BITFIELD_RO on the embedded Redis: %w", err)
	}
	return nil
}

// Redis' answers to the BITFIELD arguments it refuses.
const (
	errBitfieldType     = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errBitfieldOffset   = "ERR bit offset is not an integer or out of range"
	errBitfieldValue    = "ERR value is not an integer or out of range"
	errBitfieldOverflow = "ERR Invalid OVERFLOW type specified"
	errBitfieldRO       = "ERR BITFIELD_RO only supports the GET subcommand"
	errBitfieldIncrby   = "ERR the embedded Redis of brazesync dev supports BITFIELD GET and SET only"
	errSyntax           = "ERR syntax error"
)

// bitfieldArgs turns BITFIELD's operations (after the key) into the
// script's ARGV, or returns Redis' answer to what it refuses.
func bitfieldArgs(args []string, readOnly bool) ([]string, string) {
	var argv []string
	for i := 0; i < len(args); {
		op := strings.ToUpper(args[i])
		switch {
		case op == "GET" && i+2 < len(args):
			width, signed, off, refusal := bitfieldField(args[i+1], args[i+2])
			if refusal != "" {
				return nil, refusal
			}
			argv = append(argv, "G", strconv.FormatUint(off, 10), strconv.Itoa(width), flag(signed))
			i += 3
		case op == "SET" && !readOnly && i+3 < len(args):
			width, signed, off, refusal := bitfieldField(args[i+1], args[i+2])
			if refusal != "" {
				return nil, refusal
			}
			v, err := strconv.ParseInt(args[i+3], 10, 64)
			if err != nil {
				u, uerr := strconv.ParseUint(args[i+3], 10, 64)
				if uerr != nil {
					return nil, errBitfieldValue
				}
				v = int64(u)
			}
			bits := make([]byte, width)
			for b := range width {
				if uint64(v)>>(width-1-b)&1 == 1 {
					bits[b] = '1'
				} else {
					bits[b] = '0'
				}
			}
			argv = append(argv, "S", strconv.FormatUint(off, 10), strconv.Itoa(width), flag(signed), string(bits))
			i += 4
		case op == "OVERFLOW" && !readOnly && i+1 < len(args):
			switch strings.ToUpper(args[i+1]) {
			case "WRAP", "SAT", "FAIL":
			default:
				return nil, errBitfieldOverflow
			}
			i += 2
		case readOnly && op != "GET":
			return nil, errBitfieldRO
		case op == "INCRBY":
			return nil, errBitfieldIncrby
		default:
			return nil, errSyntax
		}
	}
	return argv, ""
}

// bitfieldField parses a BITFIELD type (u1..u63, i1..i64) and offset (N,
// or #N for N times the type's width) into the width, signedness and bit
// offset.
func bitfieldField(typ, offset string) (width int, signed bool, off uint64, refusal string) {
	if len(typ) < 2 {
		return 0, false, 0, errBitfieldType
	}
	switch typ[0] {
	case 'i', 'I':
		signed = true
	case 'u', 'U':
	default:
		return 0, false, 0, errBitfieldType
	}
	width, err := strconv.Atoi(typ[1:])
	if err != nil || width < 1 || width > 64 || (!signed && width > 63) {
		return 0, false, 0, errBitfieldType
	}
	mult := uint64(1)
	if strings.HasPrefix(offset, "#") {
		mult, offset = uint64(width), offset[1:]
	}
	n, perr := strconv.ParseUint(offset, 10, 64)
	if perr != nil || n*mult+uint64(width) > 1<<32 {
		return 0, false, 0, errBitfieldOffset
	}
	return width, signed, n * mult, ""
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
