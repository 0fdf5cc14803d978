package app

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
)

// fillSlices sets every slice reachable in v (a pointer to a struct) to a
// non-empty value, so that a test sees each one.
func fillSlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		fillSlices(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			fillSlices(v.Field(i))
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		if v.Type().Elem().Kind() == reflect.String {
			s.Index(0).SetString("a")
			s.Index(1).SetString("b")
		} else if v.Type().Elem().Kind() == reflect.Uint8 {
			s.Index(0).SetUint(1)
			s.Index(1).SetUint(2)
		}
		v.Set(s)
	}
}

// sliceData returns the backing arrays of every slice reachable in v.
func sliceData(v reflect.Value, out *[]uintptr) {
	switch v.Kind() {
	case reflect.Pointer:
		sliceData(v.Elem(), out)
	case reflect.Struct:
		for i := range v.NumField() {
			sliceData(v.Field(i), out)
		}
	case reflect.Slice:
		*out = append(*out, v.Pointer())
	}
}

// TestKeyRecordCache: a cached record decodes to the stored one, whatever
// a caller did to an earlier copy, shares no slice with the cache or with
// another caller's copy (every slice field, found by reflection, so a field
// added later is covered), refuses corrupt bytes without caching them, and
// keeps at most max entries.
func TestKeyRecordCache(t *testing.T) {
	want := &KeyRecord{Info: wire.KeyInfo{KeyID: "k", Scheme: wire.SchemeBLS, Owner: "alice"}}
	fillSlices(reflect.ValueOf(want))
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	c := &recordCache{max: 2}
	first, err := c.decode(b)
	if err != nil || !reflect.DeepEqual(first, want) {
		t.Fatalf("first decode: %+v, %v", first, err)
	}
	// A caller changes everything it was given.
	first.Info.PublicKey[0]++
	first.Info.Commitment[0]++
	first.Grants[0] = "mallory"
	first.Grants = append(first.Grants, "eve")
	first.Origin.PublicKey[0]++
	first.Origin.BindingKey[0]++
	first.Info.Disabled = true
	second, err := c.decode(b)
	if err != nil || !reflect.DeepEqual(second, want) {
		t.Fatalf("decode after a caller changed its copy: %+v, %v", second, err)
	}
	third, _ := c.decode(b)
	var p2, p3, pc []uintptr
	sliceData(reflect.ValueOf(second), &p2)
	sliceData(reflect.ValueOf(third), &p3)
	sliceData(reflect.ValueOf(c.m[string(b)]), &pc)
	for i := range p2 {
		if p2[i] == p3[i] || p2[i] == pc[i] || p3[i] == pc[i] {
			t.Fatalf("slice %d is shared between copies or with the cache", i)
		}
	}
	if _, err := c.decode([]byte(`{"info":`)); err == nil {
		t.Fatal("corrupt bytes decoded")
	}
	for _, id := range []string{"k2", "k3"} {
		other := *want
		other.Info.KeyID = id
		ob, _ := json.Marshal(other)
		if _, err := c.decode(ob); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) != 2 || len(c.order) != 2 {
		t.Fatalf("cache holds %d entries (%d in order), max 2", len(c.m), len(c.order))
	}
}

func BenchmarkGetKey(b *testing.B) {
	k := &KeyRecord{Info: wire.KeyInfo{KeyID: "k", Scheme: wire.SchemeBLS, Owner: "alice", PublicKey: make([]byte, 48), Commitment: make([]byte, 2*48+8)}, Grants: []string{"bob"}, Origin: PoolItem{Kind: "bls", Session: "bls-1", PublicKey: make([]byte, 48), Commitment: make([]byte, 2*48+8), Status: StatusAssigned, Request: "alice/0123"}}
	raw, _ := json.Marshal(k)
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			var k KeyRecord
			if err := json.Unmarshal(raw, &k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := &recordCache{max: 16}
		for b.Loop() {
			if _, err := c.decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
