package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/resources"
)

// double writes Doubled/<id> = 2 × Source/<id> and removes what has no source.
func double() *fake {
	return &fake{name: "double", inputs: []Input{{"test", "Source"}}, outputs: []Output{{"Doubled"}}, fn: derive("Source", "Doubled", 2)}
}

// plusOne writes Final/<id> = Doubled/<id> + 1.
func plusOne() *fake {
	return &fake{name: "plusOne", inputs: []Input{{"test", "Doubled"}}, outputs: []Output{{"Final"}}, fn: derive("Doubled", "Final", 1)}
}

func derive(from, to string, op int) func(context.Context, *Runtime) error {
	return func(ctx context.Context, r *Runtime) error {
		inputs, err := r.List("test", from)
		if err != nil {
			return err
		}
		var keep []string
		for _, in := range inputs {
			v := in.Spec.(int)
			if op == 2 {
				v *= 2
			} else {
				v += op
			}
			if _, err := r.Set(ctx, "test", to, in.ID, v); err != nil {
				return err
			}
			keep = append(keep, in.ID)
		}
		return r.Cleanup("test", to, keep)
	}
}

func finals(s *resources.Store) string {
	var out []string
	for _, r := range s.List("test", "Final") {
		out = append(out, fmt.Sprintf("%s=%d", r.ID, r.Spec.(int)))
	}
	return fmt.Sprint(out)
}

// A's output is B's input: a change to A's input reaches B's output, additions and
// removals included, and the chain then goes quiet.
func TestTwoControllerChainConverges(t *testing.T) {
	s := resources.New(resources.Config{})
	set(t, s, "Source", "x", 1)
	m := NewManager(s, Config{})
	a, b := double(), plusOne()
	if err := m.Register(b); err != nil {
		t.Fatal(err)
	}
	if err := m.Register(a); err != nil {
		t.Fatal(err)
	}
	start(t, m)

	eventually(t, "x=3", func() bool { return finals(s) == "[x=3]" })
	set(t, s, "Source", "x", 5)
	set(t, s, "Source", "y", 10)
	eventually(t, "x=11 y=21", func() bool { return finals(s) == "[x=11 y=21]" })
	if err := s.Delete("test", "Source", "x", "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "only y=21", func() bool { return finals(s) == "[y=21]" })

	// Quiet: late watch events may cost a run or two, but rewriting the same outputs
	// must not wake the chain forever.
	runs := -1
	eventually(t, "no reconcile for 50ms", func() bool {
		before := runs
		time.Sleep(50 * time.Millisecond)
		runs = a.count() + b.count()
		return runs == before
	})
	final, _ := s.Get("test", "Final", "y")
	if final.Owner != "plusOne" || final.Version != 1 {
		t.Errorf("Final/y %+v: want owned by plusOne, written once", final.Metadata)
	}
}
