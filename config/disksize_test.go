package config

import "testing"

func TestSizeMatcher(t *testing.T) {
	for _, tc := range []struct {
		spec string
		size int64
		want bool
	}{
		{"4GB", 4e9, true},
		{"4GB", 4294967296, true}, // a 4 GiB disk is 4.29 GB
		{"4GB", 4.5e9, false},
		{"4GiB", 4 << 30, true},
		{">= 10GB", 10e9, true},
		{">=10GB", 10e9 - 1, false},
		{"<= 2TB", 2e12, true},
		{"<= 2TB", 2e12 + 1, false},
		{"> 1.5TiB", 3 << 39, false},
		{"> 1.5TiB", 3<<39 + 1, true},
		{"< 500 MB", 499e6, true},
		{"== 3GiB", 3 << 30, true},
		{"1024", 1024, true},
	} {
		m, err := ParseSizeMatcher(tc.spec)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if got := m.Match(tc.size); got != tc.want {
			t.Errorf("%q matches %d: %v, want %v", tc.spec, tc.size, got, tc.want)
		}
	}
	for _, bad := range []string{"", "GB", ">= ", "4 PB", "4.4.4GB", "=> 4GB", "-4GB", "99999999999TB"} {
		if _, err := ParseSizeMatcher(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestDecodeTalosDiskSelector(t *testing.T) {
	c, err := Decode([]byte("version: v1alpha1\nmachine:\n  install:\n    diskSelector:\n      size: '>= 10GB'\n      model: QEMU*\n      busPath: /pci0000:00/*\n    wipe: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := DiskSelector{Size: ">= 10GB", Model: "QEMU*", BusPath: "/pci0000:00/*"}
	if c.Machine.Install.DiskSelector != want || !c.Machine.Install.Wipe {
		t.Errorf("install %+v", c.Machine.Install)
	}
}
