package hd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint32
	}{
		{"", []uint32{}}, {"m", []uint32{}}, {"m/", []uint32{}}, {"0/17", []uint32{0, 17}}, {"m/1/3", []uint32{1, 3}},
		{"2147483647", []uint32{2147483647}}, {"0", []uint32{0}},
	} {
		got, err := ParsePath(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParsePath(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"/", "0/", "/0", "0//1", "0'", "0h", "0H", "2147483648", "4294967296", "99999999999",
		"01", "-1", "+1", " 1", "1 ", "m/m", "M/0", "0x1", strings.Repeat("0/", MaxPathLen) + "0"} {
		if _, err := ParsePath(in); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ParsePath(%q): %v", in, err)
		}
	}
	if FormatPath(nil) != "" || FormatPath([]uint32{1, 3}) != "1/3" {
		t.Error("FormatPath")
	}
}

// FuzzParsePath: whatever ParsePath accepts formats back to a text it parses to the same path, and
// that text is the input without its optional "m/" prefix.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "m", "0/17", "m/1/3", "2147483647", "0'", "01", "0//1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		out := FormatPath(p)
		q, err := ParsePath(out)
		if err != nil || !slices.Equal(p, q) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, p, out, q, err)
		}
		if want := strings.TrimPrefix(s, "m/"); want != "m" && out != want {
			t.Fatalf("%q formats as %q", s, out)
		}
	})
}
