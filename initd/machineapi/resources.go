package machineapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/resources"
)

// ResourceReader is the read side of the resource store.
type ResourceReader interface {
	Get(namespace, typ, id string) (resources.Resource, error)
	List(namespace, typ string) []resources.Resource
	Watch(ctx context.Context, namespace, typ, id string, opts resources.WatchOptions) (<-chan resources.Event, error)
}

// ResourceGet returns one resource.
func (s *Server) ResourceGet(ctx context.Context, req *machine.ResourceGetRequest) (*machine.Resource, error) {
	ns, typ, err := s.resolveType(req.GetNamespace(), req.GetType())
	if err != nil {
		return nil, err
	}
	r, err := s.Resources.Get(ns, typ, req.GetId())
	if errors.Is(err, resources.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "%s/%s/%s does not exist", ns, typ, req.GetId())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return resourceProto(r)
}

// ResourceList returns every resource of a type, sorted by id. An empty type lists every
// resource of every type (of the namespace, when one is given), in the order of
// resources.Definitions: what a support bundle takes. Secrets are redacted as always.
func (s *Server) ResourceList(ctx context.Context, req *machine.ResourceListRequest) (*machine.ResourceListResponse, error) {
	kinds, err := s.listKinds(req.GetNamespace(), req.GetType())
	if err != nil {
		return nil, err
	}
	resp := &machine.ResourceListResponse{}
	for _, k := range kinds {
		for _, r := range s.Resources.List(k.Namespace, k.Type) {
			p, err := resourceProto(r)
			if err != nil {
				return nil, err
			}
			resp.Resources = append(resp.Resources, p)
		}
	}
	return resp, nil
}

// listKinds is the one type a list names, or every type (of namespace) for an empty one.
func (s *Server) listKinds(namespace, typ string) ([]resources.Definition, error) {
	if typ != "" {
		ns, typ, err := s.resolveType(namespace, typ)
		return []resources.Definition{{Namespace: ns, Type: typ}}, err
	}
	if s.Resources == nil {
		return nil, errNotYet
	}
	var kinds []resources.Definition
	for _, d := range resources.Definitions {
		if namespace == "" || d.Namespace == namespace {
			kinds = append(kinds, d)
		}
	}
	if len(kinds) == 0 {
		return nil, status.Errorf(codes.NotFound, "no resource types in namespace %q", namespace)
	}
	return kinds, nil
}

// ResourceWatch streams a type's (or one resource's) changes.
func (s *Server) ResourceWatch(req *machine.ResourceWatchRequest, stream grpc.ServerStreamingServer[machine.ResourceEvent]) error {
	ns, typ, err := s.resolveType(req.GetNamespace(), req.GetType())
	if err != nil {
		return err
	}
	tail := int(req.GetTailEvents())
	ch, err := s.Resources.Watch(stream.Context(), ns, typ, req.GetId(), resources.WatchOptions{TailEvents: tail})
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	for ev := range ch {
		if ev.Type == resources.EventErrored {
			return streamEnd(ev.Err)
		}
		out := &machine.ResourceEvent{Type: eventType(ev.Type)}
		if ev.Type != resources.EventBootstrapped {
			if out.Resource, err = resourceProto(ev.Resource); err != nil {
				return err
			}
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
	return streamEnd(stream.Context().Err())
}

// resolveType finds the definition of namespace/typ. The type's name is matched without
// regard to case, and an empty namespace is filled in when only one namespace has the type,
// so that `kilnctl get linkstatus` works. An unknown type names the known ones.
func (s *Server) resolveType(namespace, typ string) (string, string, error) {
	if s.Resources == nil {
		return "", "", errNotYet
	}
	var match []resources.Definition
	var known []string
	for _, d := range resources.Definitions {
		known = append(known, d.Namespace+"/"+d.Type)
		if strings.EqualFold(d.Type, typ) && (namespace == "" || namespace == d.Namespace) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 1:
		return match[0].Namespace, match[0].Type, nil
	case 0:
		return "", "", status.Errorf(codes.NotFound, "no resource type %q in namespace %q; known: %s", typ, namespace, strings.Join(known, ", "))
	}
	return "", "", status.Errorf(codes.InvalidArgument, "resource type %q exists in several namespaces: name one", typ)
}

func eventType(t resources.EventType) machine.ResourceEvent_Type {
	switch t {
	case resources.EventUpdated:
		return machine.ResourceEvent_UPDATED
	case resources.EventDestroyed:
		return machine.ResourceEvent_DESTROYED
	case resources.EventBootstrapped:
		return machine.ResourceEvent_BOOTSTRAPPED
	}
	return machine.ResourceEvent_CREATED
}

// resourceProto is a resource as the API sends it, its secrets redacted.
func resourceProto(r resources.Resource) (*machine.Resource, error) {
	spec, err := json.Marshal(redactSpec(r.Spec))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode %s: %v", r.Metadata, err)
	}
	m := r.Metadata
	return &machine.Resource{
		Metadata: &machine.ResourceMetadata{Namespace: m.Namespace, Type: m.Type, Id: m.ID, Version: m.Version, Owner: m.Owner,
			Created: timestamppb.New(m.Created), Updated: timestamppb.New(m.Updated)},
		SpecJson: spec,
	}, nil
}
