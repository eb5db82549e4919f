package resources

import (
	"context"
	"fmt"
	"testing"
)

func linkSpec(i int) LinkStatusSpec {
	return LinkStatusSpec{Name: "eth0", Index: 2, Kind: "ether", HardwareAddr: "52:54:00:12:34:56", MTU: 1500 + i, AdminUp: true, Carrier: true, OperState: "up"}
}

func BenchmarkGet(b *testing.B) {
	s := New(Config{})
	s.Create(Resource{Metadata: Metadata{Namespace: NamespaceNetwork, Type: TypeLinkStatus, ID: "eth0", Owner: "network"}, Spec: linkSpec(0)})
	for b.Loop() {
		s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	}
}

func BenchmarkModify(b *testing.B) {
	s := New(Config{})
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "network", func(any) (any, error) { return linkSpec(i), nil })
	}
}

// BenchmarkModifyWatched is one change delivered to n reading watchers.
func BenchmarkModifyWatched(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) {
			s := New(Config{WatchBuffer: 1 << 20})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var chans []<-chan Event
			for range n {
				ch, _ := s.Watch(ctx, NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})
				<-ch // Bootstrapped
				chans = append(chans, ch)
			}
			i := 0
			for b.Loop() {
				i++
				s.Modify(ctx, NamespaceNetwork, TypeLinkStatus, "eth0", "network", func(any) (any, error) { return linkSpec(i), nil })
				for _, ch := range chans {
					<-ch
				}
			}
		})
	}
}
