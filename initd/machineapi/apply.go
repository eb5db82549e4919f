package machineapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
)

// applyModes maps the request's mode to configstate's.
var applyModes = map[machine.ApplyConfigurationRequest_Mode]configstate.Mode{
	machine.ApplyConfigurationRequest_AUTO:      configstate.ModeAuto,
	machine.ApplyConfigurationRequest_NO_REBOOT: configstate.ModeNoReboot,
	machine.ApplyConfigurationRequest_REBOOT:    configstate.ModeReboot,
}

// ApplyConfiguration hands a machine config to machined, which validates, persists and
// applies it (or only validates and diffs it, for a dry run).
func (s *Server) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	if s.Apply == nil {
		return nil, errNotYet
	}
	s.Log.WithField("caller", caller(ctx)).WithField("dryRun", req.GetDryRun()).WithField("bytes", len(req.GetData())).Info("apply configuration")
	mode, ok := applyModes[req.GetMode()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown apply mode %v", req.GetMode())
	}
	res, err := s.Apply(ctx, configstate.Request{Data: req.GetData(), DryRun: req.GetDryRun(), Mode: mode})
	if err != nil {
		return nil, applyError(err)
	}
	return applyResponse(res, s.redactText), nil
}

// applyError maps the apply's domain errors to status codes.
func applyError(err error) error {
	switch {
	case errors.Is(err, config.ErrInvalid):
		return status.Error(codes.InvalidArgument, "config rejected, nothing changed:\n"+err.Error())
	case errors.Is(err, config.ErrNeedsReboot):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, configstate.ErrBusy):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// applyResponse is the result as the API sends it: config.Diff redacts secret fields
// already, and the text passes the redactor like every other text the API sends.
func applyResponse(res configstate.Result, redact func(string) string) *machine.ApplyConfigurationResponse {
	resp := &machine.ApplyConfigurationResponse{ModeApplied: res.Applied}
	for _, c := range res.Changes {
		resp.Changes = append(resp.Changes, &machine.ConfigChange{Path: c.Path, OldValue: redact(c.Old),
			NewValue: redact(c.New), Reboot: c.Reboot})
	}
	resp.Diff = redact(config.FormatChanges(res.Changes))
	for _, w := range res.Warnings {
		resp.Warnings = append(resp.Warnings, redact(w))
	}
	return resp
}

// InspectControllers lists the controllers with their declared inputs and outputs.
func (s *Server) InspectControllers(ctx context.Context, _ *machine.InspectControllersRequest) (*machine.InspectControllersResponse, error) {
	if s.Controllers == nil {
		return nil, errNotYet
	}
	resp := &machine.InspectControllersResponse{}
	for _, c := range s.Controllers() {
		info := &machine.ControllerInfo{Name: c.Name}
		for _, in := range c.Inputs {
			info.Inputs = append(info.Inputs, &machine.ResourceKind{Namespace: in.Namespace, Type: in.Type})
		}
		for _, out := range c.Outputs {
			info.Outputs = append(info.Outputs, &machine.ResourceKind{Namespace: resources.NamespaceOf(out.Type), Type: out.Type})
		}
		resp.Controllers = append(resp.Controllers, info)
	}
	return resp, nil
}
