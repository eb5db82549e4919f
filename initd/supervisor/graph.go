package supervisor

import (
	"fmt"
	"strings"
)

// orderServices checks the dependency graph and returns the services so that each comes
// after all of its dependencies. The order is stable: it follows the given order where
// the graph leaves a choice.
func orderServices(services []Service) ([]Service, error) {
	byName, err := indexServices(services)
	if err != nil {
		return nil, err
	}
	g := graphWalk{byName: byName, state: map[string]visit{}}
	for _, svc := range services {
		if err := g.visit(svc.Name()); err != nil {
			return nil, err
		}
	}
	return g.order, nil
}

func indexServices(services []Service) (map[string]Service, error) {
	byName := make(map[string]Service, len(services))
	for i, svc := range services {
		name := svc.Name()
		if name == "" {
			return nil, fmt.Errorf("%w: service %d has no name", ErrGraph, i)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("%w: service %q is listed twice", ErrGraph, name)
		}
		byName[name] = svc
	}
	for _, svc := range services {
		for _, dep := range svc.DependsOn() {
			if _, ok := byName[dep]; !ok {
				return nil, fmt.Errorf("%w: service %q depends on unknown service %q", ErrGraph, svc.Name(), dep)
			}
		}
	}
	return byName, nil
}

type visit int

const (
	unvisited visit = iota
	inProgress
	finished
)

// graphWalk is a depth-first search that emits services in post-order and reports the
// first cycle it meets with the path that closes it.
type graphWalk struct {
	byName map[string]Service
	state  map[string]visit
	path   []string
	order  []Service
}

func (g *graphWalk) visit(name string) error {
	switch g.state[name] {
	case finished:
		return nil
	case inProgress:
		return g.cycleError(name)
	}
	g.state[name] = inProgress
	g.path = append(g.path, name)
	for _, dep := range g.byName[name].DependsOn() {
		if err := g.visit(dep); err != nil {
			return err
		}
	}
	g.path = g.path[:len(g.path)-1]
	g.state[name] = finished
	g.order = append(g.order, g.byName[name])
	return nil
}

// cycleError names the cycle as "a -> b -> a", starting where it closes.
func (g *graphWalk) cycleError(name string) error {
	start := 0
	for i, n := range g.path {
		if n == name {
			start = i
			break
		}
	}
	cycle := append(append([]string{}, g.path[start:]...), name)
	return fmt.Errorf("%w: dependency cycle %s", ErrGraph, strings.Join(cycle, " -> "))
}
