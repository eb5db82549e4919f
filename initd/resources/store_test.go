package resources

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCreateGetListUpdateDelete(t *testing.T) {
	s, _ := newTestStore()
	for _, id := range []string{"eth1", "eth0", "lo"} {
		if _, err := s.Create(link(id, "network", "10.0.0.1/24")); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, r := range s.List(NamespaceNetwork, TypeLinkStatus) {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[eth0 eth1 lo]" {
		t.Errorf("List ids %v, want sorted", ids)
	}

	got, err := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Owner != "network" || !got.Created.Equal(got.Updated) {
		t.Errorf("created metadata %+v", got.Metadata)
	}
	next := got
	next.Spec = testSpec{Name: "eth0", Addrs: []string{"10.0.0.2/24"}}
	updated, err := s.Update(next)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 || !updated.Updated.After(updated.Created) || !updated.Created.Equal(got.Created) {
		t.Errorf("updated metadata %+v", updated.Metadata)
	}
	if spec := updated.Spec.(testSpec); spec.Addrs[0] != "10.0.0.2/24" {
		t.Errorf("updated spec %+v", spec)
	}

	if err := s.Delete(NamespaceNetwork, TypeLinkStatus, "eth0", "network"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(NamespaceNetwork, TypeLinkStatus, "eth0", "network"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if n := len(s.List(NamespaceNetwork, TypeLinkStatus)); n != 2 {
		t.Errorf("%d left, want 2", n)
	}
}

func TestCreateRejects(t *testing.T) {
	s, _ := newTestStore()
	s.Create(link("eth0", "network"))
	noOwner := link("eth1", "")
	noSpec := link("eth1", "network")
	noSpec.Spec = nil
	noID := link("", "network")
	badJSON := link("eth1", "network")
	badJSON.Spec = func() {}
	for name, tc := range map[string]struct {
		r    Resource
		want error
	}{
		"exists":   {link("eth0", "network"), ErrExists},
		"no owner": {noOwner, ErrInvalid},
		"no spec":  {noSpec, ErrInvalid},
		"no id":    {noID, ErrInvalid},
		"not JSON": {badJSON, ErrInvalid},
	} {
		if _, err := s.Create(tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: Create = %v, want %v", name, err, tc.want)
		}
	}
}

func TestUpdateConflict(t *testing.T) {
	s, _ := newTestStore()
	v1, _ := s.Create(link("eth0", "network", "a"))
	v2 := v1
	v2.Spec = testSpec{Name: "eth0", Addrs: []string{"b"}}
	if _, err := s.Update(v2); err != nil {
		t.Fatal(err)
	}
	stale := v1
	stale.Spec = testSpec{Name: "eth0", Addrs: []string{"c"}}
	if _, err := s.Update(stale); !errors.Is(err, ErrConflict) {
		t.Errorf("stale Update = %v, want ErrConflict", err)
	}
	if _, err := s.Update(link("eth9", "network")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of missing = %v, want ErrNotFound", err)
	}
}

func TestUpdateWithSameSpecIsNoChange(t *testing.T) {
	s, _ := newTestStore()
	v1, _ := s.Create(link("eth0", "network", "a"))
	again := link("eth0", "network", "a")
	again.Version = 1
	same, err := s.Update(again)
	if err != nil || same.Version != 1 || !same.Updated.Equal(v1.Updated) {
		t.Errorf("same-spec Update = %+v, %v; want version 1 untouched", same.Metadata, err)
	}
}

func TestOwnership(t *testing.T) {
	s, _ := newTestStore()
	v1, _ := s.Create(link("eth0", "network"))
	intruder := v1
	intruder.Owner = "api"
	if _, err := s.Update(intruder); !errors.Is(err, ErrOwner) {
		t.Errorf("Update by another owner = %v, want ErrOwner", err)
	}
	if err := s.Delete(NamespaceNetwork, TypeLinkStatus, "eth0", "api"); !errors.Is(err, ErrOwner) {
		t.Errorf("Delete by another owner = %v, want ErrOwner", err)
	}
	if err := s.Claim(TypeLinkStatus, "api"); !errors.Is(err, ErrOwner) {
		t.Errorf("Claim over a resource owned by another = %v, want ErrOwner", err)
	}
	if err := s.Claim(TypeLinkStatus, "network"); err != nil {
		t.Fatal(err)
	}
	if err := s.Claim(TypeLinkStatus, "network"); err != nil {
		t.Errorf("repeated Claim by the same owner: %v", err)
	}
	if _, err := s.Create(link("eth1", "api")); !errors.Is(err, ErrOwner) {
		t.Errorf("Create of a claimed type by another owner = %v, want ErrOwner", err)
	}
	other := link("eth1", "api")
	other.Namespace = "elsewhere"
	if _, err := s.Create(other); !errors.Is(err, ErrOwner) {
		t.Errorf("a claim covers every namespace; Create = %v", err)
	}
	if _, err := s.Create(link("eth1", "network")); err != nil {
		t.Errorf("owner's Create: %v", err)
	}
}

func TestReadersGetCopies(t *testing.T) {
	s, _ := newTestStore()
	mine := link("eth0", "network", "a")
	mine.Spec.(testSpec).Addrs[0] = "a" // the caller keeps a reference to Addrs
	s.Create(mine)
	mine.Spec.(testSpec).Addrs[0] = "changed by the writer"

	got, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	got.Spec.(testSpec).Addrs[0] = "changed by a reader"
	again, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	if a := again.Spec.(testSpec).Addrs[0]; a != "a" {
		t.Errorf("stored spec changed to %q through a caller's reference", a)
	}
}

// clonedSpec counts DeepCopy calls, to show the store prefers a Cloner to JSON.
type clonedSpec struct {
	N      int `json:"n"`
	copies *int
}

func (c clonedSpec) DeepCopy() any {
	*c.copies++
	return clonedSpec{N: c.N, copies: c.copies}
}

func TestClonerIsUsed(t *testing.T) {
	s, _ := newTestStore()
	copies := 0
	r := link("eth0", "network")
	r.Spec = clonedSpec{N: 7, copies: &copies}
	s.Create(r)
	got, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	if got.Spec.(clonedSpec).N != 7 || copies < 2 {
		t.Errorf("spec %+v after %d DeepCopy calls", got.Spec, copies)
	}
}

func TestPointerSpecsAreCopied(t *testing.T) {
	s, _ := newTestStore()
	r := link("eth0", "network")
	r.Spec = &testSpec{Name: "eth0"}
	s.Create(r)
	r.Spec.(*testSpec).Name = "changed"
	got, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	if got.Spec.(*testSpec).Name != "eth0" {
		t.Errorf("pointer spec shared: %+v", got.Spec)
	}
}

func TestModifyCreatesThenUpdates(t *testing.T) {
	s, _ := newTestStore()
	ctx := context.Background()
	add := func(addr string) func(any) (any, error) {
		return func(spec any) (any, error) {
			cur, _ := spec.(testSpec)
			cur.Name = "eth0"
			cur.Addrs = append(cur.Addrs, addr)
			return cur, nil
		}
	}
	r, err := s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "network", add("a"))
	if err != nil || r.Version != 1 {
		t.Fatalf("first Modify = %+v, %v", r.Metadata, err)
	}
	r, err = s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "network", add("b"))
	if err != nil || r.Version != 2 || fmt.Sprint(r.Spec.(testSpec).Addrs) != "[a b]" {
		t.Fatalf("second Modify = %+v %+v, %v", r.Metadata, r.Spec, err)
	}
	boom := errors.New("boom")
	if _, err := s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "network", func(any) (any, error) { return nil, boom }); err != boom {
		t.Errorf("change error came back as %v", err)
	}
	if _, err := s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "api", add("c")); !errors.Is(err, ErrOwner) {
		t.Errorf("Modify by another owner = %v, want ErrOwner", err)
	}
}

// Concurrent Modify calls on one resource lose no increment: conflicts are retried.
func TestModifyConcurrentIncrements(t *testing.T) {
	s, _ := newTestStore()
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.Modify(context.Background(), "test", "Counter", "c", "counter", func(spec any) (any, error) {
					n, _ := spec.(int)
					return n + 1, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := s.Get("test", "Counter", "c")
	if got.Spec.(int) != writers*each || got.Version != writers*each {
		t.Errorf("counter %v at version %d, want %d", got.Spec, got.Version, writers*each)
	}
}

func TestModifyStopsOnCancel(t *testing.T) {
	s, _ := newTestStore()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Modify(ctx, "test", "Counter", "c", "counter", func(any) (any, error) { return 1, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Modify with a cancelled ctx = %v", err)
	}
}

func TestClockStampsTimes(t *testing.T) {
	c := newClock()
	s := New(Config{Now: c.Now})
	r, _ := s.Create(link("eth0", "network"))
	if want := time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC); !r.Created.Equal(want) {
		t.Errorf("Created %v, want %v from the injected clock", r.Created, want)
	}
}

func TestSetReplacesWhateverWasThere(t *testing.T) {
	s := New(Config{})
	ctx := context.Background()
	if _, err := s.Set(ctx, "test", "T", "x", "a", 1); err != nil {
		t.Fatal(err)
	}
	r, err := s.Set(ctx, "test", "T", "x", "a", 2)
	if err != nil || r.Version != 2 || r.Spec.(int) != 2 {
		t.Fatalf("second Set = %+v, %v", r, err)
	}
	if _, err := s.Set(ctx, "test", "T", "x", "b", 3); !errors.Is(err, ErrOwner) {
		t.Errorf("Set by another owner = %v, want ErrOwner", err)
	}
}
