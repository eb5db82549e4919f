package apid

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/kiln-os/kiln/api/rbac"
)

// registerReflection serves gRPC reflection (v1 and v1alpha, as reflection.Register
// does) listing the services apid forwards beside those it serves itself: the proxy
// registers no service, so the server alone would not name MachineService.
func registerReflection(srv *grpc.Server) {
	opts := reflection.ServerOptions{Services: advertised{srv}}
	grpc_reflection_v1.RegisterServerReflectionServer(srv, reflection.NewServerV1(opts))
	grpc_reflection_v1alpha.RegisterServerReflectionServer(srv, reflection.NewServer(opts))
}

// advertised adds every service named in the RBAC table to the server's own. Reflection
// reads only the names (reflection.ServiceInfoProvider) and resolves their descriptors
// from the proto registry, where the generated code of each service put them.
type advertised struct{ srv *grpc.Server }

func (a advertised) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := a.srv.GetServiceInfo()
	for method := range rbac.Methods {
		service, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
		if _, served := info[service]; ok && !served {
			info[service] = grpc.ServiceInfo{}
		}
	}
	return info
}
