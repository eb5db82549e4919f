package k8s

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// SetupController does, once per boot, what must follow a Kubernetes service coming up:
// the payload's sandbox image goes into the CRI containerd once that is healthy, and on
// a controlplane the bootstrap manifests go into the API server once Health has seen it
// ready. A failed step is returned, so the controller manager retries it with backoff;
// it writes no resources.
type SetupController struct {
	// ImportSandbox puts the sandbox image into the CRI containerd (ImportSandbox).
	ImportSandbox func(context.Context) error
	// ApplyManifests applies the bootstrap manifests for the cluster token
	// (Admin.ApplyManifests).
	ApplyManifests func(ctx context.Context, token string) error
	Log            logrus.FieldLogger

	imported bool // the sandbox image went into the CRI containerd during this boot
	applied  bool // the manifests went in during this boot
}

// sandboxImportTimeout bounds one import of the sandbox image: an import, not a health
// check. cluster-test's niced one-vCPU workers under TCG never finished one within the
// checks' 5 seconds, and their pods could not start.
const sandboxImportTimeout = 3 * time.Minute

func (c *SetupController) Name() string { return "KubernetesSetupController" }

func (c *SetupController) Inputs() []controller.Input {
	return []controller.Input{configstate.Input,
		{Namespace: resources.NamespaceRuntime, Type: resources.TypeService},
		{Namespace: resources.NamespaceK8s, Type: resources.TypeKubernetesStatus}}
}

func (c *SetupController) Outputs() []controller.Output { return nil }

func (c *SetupController) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil || !cfg.Config.Kubernetes() {
		return err
	}
	var errs []error
	if !c.imported {
		cri, err := controller.Spec[resources.ServiceSpec](r, resources.NamespaceRuntime, resources.TypeService, ServiceCRI)
		switch {
		case err != nil:
			errs = append(errs, err)
		case cri != nil && cri.Healthy:
			ictx, cancel := context.WithTimeout(ctx, sandboxImportTimeout)
			err := c.ImportSandbox(ictx)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("import the sandbox image into the CRI containerd: %w", err))
			} else {
				c.imported = true
				c.Log.Info("sandbox image imported")
			}
		}
	}
	if !c.applied && cfg.Config.Machine.Type == config.TypeControlPlane {
		st, err := controller.Spec[resources.KubernetesStatusSpec](r, resources.NamespaceK8s, resources.TypeKubernetesStatus, resources.KubernetesStatusID)
		switch {
		case err != nil:
			errs = append(errs, err)
		case st != nil && st.APIServer == "":
			// kubectl has its own --request-timeout.
			if err := c.ApplyManifests(ctx, cfg.Config.Cluster.Token); err != nil {
				errs = append(errs, fmt.Errorf("apply the bootstrap manifests: %w", err))
			} else {
				c.applied = true
				c.Log.Info("bootstrap manifests applied")
			}
		}
	}
	return errors.Join(errs...)
}
