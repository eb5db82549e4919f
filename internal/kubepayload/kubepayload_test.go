package kubepayload

import (
	"errors"
	"strings"
	"testing"
)

const digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParsePin(t *testing.T) {
	good := `{"file":"kubernetes-0123456789ab.sqsh","sha256":"` + digest + `","size":42,"versions":{"kubernetes":"v1.37.2"}}`
	p, err := ParsePin([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 42 || p.Versions["kubernetes"] != "v1.37.2" || p.File != FileName(digest) {
		t.Errorf("ParsePin = %+v", p)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"not JSON", `{`, "unexpected end"},
		{"short digest", `{"file":"kubernetes-0123.sqsh","sha256":"0123","size":1}`, "64 lowercase hex"},
		{"upper-case digest", `{"file":"x","sha256":"` + strings.ToUpper(digest) + `","size":1}`, "64 lowercase hex"},
		{"file not named by its digest", `{"file":"kubernetes-ffffffffffff.sqsh","sha256":"` + digest + `","size":1}`, "want \"kubernetes-0123456789ab.sqsh\""},
		{"a path for a file", `{"file":"../kubernetes-0123456789ab.sqsh","sha256":"` + digest + `","size":1}`, "file"},
		{"empty", `{"file":"kubernetes-0123456789ab.sqsh","sha256":"` + digest + `","size":0}`, "size 0"},
	} {
		_, err := ParsePin([]byte(tc.json))
		if !errors.Is(err, ErrBadPin) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParsePin = %v, want ErrBadPin containing %q", tc.name, err, tc.want)
		}
	}
}
