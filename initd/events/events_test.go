package events

import (
	"strings"
	"testing"
	"time"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	e := Event{Time: time.Unix(1700000000, 5).UTC(), Type: TypeService, Name: "watchdogd", State: StateFailed, Error: "exit status 1", Fields: map[string]string{"pid": "7"}}
	line := e.Marshal()
	if !strings.HasSuffix(string(line), "}\n") || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("not one JSON line: %q", line)
	}
	got, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != e.Name || got.Error != e.Error || !got.Time.Equal(e.Time) || got.Fields["pid"] != "7" {
		t.Errorf("round trip: %+v", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "{", `{"name":"x"}`, `[]`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestString(t *testing.T) {
	e := Event{Type: TypePhase, Name: "EarlyMounts", State: StateFailed, Error: "boom", Fields: map[string]string{"b": "2", "a": "1"}}
	if got, want := e.String(), "[phase] EarlyMounts: failed: boom a=1 b=2"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"time":"2023-11-14T22:13:20Z","type":"boot","name":"machined","state":"ready"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		if _, err := Parse(e.Marshal()); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
