package config

import (
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(encodeForTest(f, fullConfig(f)))
	f.Add([]byte("version: v1alpha1\nmachine: {type: worker, sysctls: {a: 1}}\ncluster: {name: x}\n"))
	f.Add([]byte("machine:\n  network:\n    interfaces: [{name: eth0, dhcp: yes, mtu: 0x10}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Decode(data)
		if err != nil {
			return
		}
		first.Validate() // must not panic on anything Decode accepts
		encoded, err := Encode(first)
		if err != nil {
			t.Fatalf("encode an accepted config: %v", err)
		}
		second, err := Decode(encoded)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the config:\n%#v\n%#v", first, second)
		}
	})
}
