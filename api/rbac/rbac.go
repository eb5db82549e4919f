// Package rbac is apid's authorization table: the least role each gRPC method needs, and
// the roles a verified client certificate carries (its Subject.Organization).
//
// Roles nest: os:admin can do what os:operator can, which can do what os:reader can.
// os:etcd:backup stands beside os:operator: a reader that may also take etcd snapshots
// (they hold every Secret of the cluster, which an operator must not read); os:admin
// includes it. A method missing from the table is denied to everyone, so a new RPC stays
// closed until someone decides who may call it. The package decides only; it does not log, count or
// talk gRPC status codes (apid does, at the edge), and it never verifies certificates:
// the TLS handshake has done that before a certificate reaches Roles.
package rbac

import (
	"crypto/x509"
	"fmt"
	"slices"

	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/kiln-os/kiln/api/machine"
)

// Role is a client certificate Organization value that grants rights.
type Role string

// The roles, least to most.
const (
	Reader     Role = "os:reader"
	Operator   Role = "os:operator"
	EtcdBackup Role = "os:etcd:backup"
	Admin      Role = "os:admin"
)

// includes lists, for each role, every role whose rights it has (itself among them).
var includes = map[Role][]Role{
	Reader:     {Reader},
	Operator:   {Reader, Operator},
	EtcdBackup: {Reader, EtcdBackup},
	Admin:      {Reader, Operator, EtcdBackup, Admin},
}

// Methods maps a full gRPC method name to the least role allowed to call it.
var Methods = map[string]Role{
	machine.MachineService_Version_FullMethodName:            Reader,
	machine.MachineService_ServiceList_FullMethodName:        Reader,
	machine.MachineService_Logs_FullMethodName:               Reader,
	machine.MachineService_Dmesg_FullMethodName:              Reader,
	machine.MachineService_Events_FullMethodName:             Reader,
	machine.MachineService_ResourceGet_FullMethodName:        Reader,
	machine.MachineService_ResourceList_FullMethodName:       Reader,
	machine.MachineService_ResourceWatch_FullMethodName:      Reader,
	machine.MachineService_PCRRead_FullMethodName:            Reader,
	machine.MachineService_InspectControllers_FullMethodName: Reader,
	machine.MachineService_Processes_FullMethodName:          Reader,
	machine.MachineService_Memory_FullMethodName:             Reader,
	machine.MachineService_Mounts_FullMethodName:             Reader,
	machine.MachineService_Disks_FullMethodName:              Reader,
	machine.MachineService_Netstat_FullMethodName:            Reader,
	machine.MachineService_Stats_FullMethodName:              Reader,
	machine.MachineService_ImageList_FullMethodName:          Reader,
	machine.MachineService_EtcdMembers_FullMethodName:        Reader,

	machine.MachineService_ServiceRestart_FullMethodName: Operator,
	machine.MachineService_ServiceStop_FullMethodName:    Operator,
	machine.MachineService_ServiceStart_FullMethodName:   Operator,
	// Files can hold what a reader should not see (a workload's credentials); STATE and
	// /run/kiln are refused to every role by machined itself.
	machine.MachineService_ListFiles_FullMethodName: Operator,
	machine.MachineService_ReadFile_FullMethodName:  Operator,
	machine.MachineService_Reboot_FullMethodName:    Operator,
	machine.MachineService_Shutdown_FullMethodName:  Operator,
	// Importing an image adds to what the node can run but runs nothing by itself: what
	// runs is the config's (admin). An operator deploys the images an admin's config names.
	machine.MachineService_ImageImport_FullMethodName: Operator,

	// A snapshot is the cluster's whole state, Secrets included.
	machine.MachineService_EtcdSnapshot_FullMethodName: EtcdBackup,

	machine.MachineService_ApplyConfiguration_FullMethodName: Admin,
	// Bootstrap starts a cluster (a recovery, from a snapshot: every Secret it held); a
	// kubeconfig is a cluster administrator's credential.
	machine.MachineService_Bootstrap_FullMethodName:   Admin,
	machine.MachineService_EtcdRecover_FullMethodName: Admin,
	machine.MachineService_Kubeconfig_FullMethodName:  Admin,
	machine.MachineService_Reset_FullMethodName:       Admin,
	machine.MachineService_Upgrade_FullMethodName:     Admin,
	machine.MachineService_Rollback_FullMethodName:    Admin,
	// Reflection lists every service and message: useful to an administrator debugging
	// with grpcurl, nothing a reader needs.
	grpc_reflection_v1.ServerReflection_ServerReflectionInfo_FullMethodName:      Admin,
	grpc_reflection_v1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: Admin,
}

// Includes reports whether r grants everything need grants. Unknown roles include nothing.
func (r Role) Includes(need Role) bool {
	return slices.Contains(includes[r], need)
}

// Roles returns the known roles in cert's Subject.Organization, in the certificate's
// order; unknown Organization values are ignored.
func Roles(cert *x509.Certificate) []Role {
	var roles []Role
	for _, org := range cert.Subject.Organization {
		if _, ok := includes[Role(org)]; ok {
			roles = append(roles, Role(org))
		}
	}
	return roles
}

// Authorize returns nil when one of roles may call method, and otherwise an error that
// names the role needed (or that the method is not in the table).
func Authorize(method string, roles []Role) error {
	need, ok := Methods[method]
	if !ok {
		return fmt.Errorf("method %s is not in the RBAC table: denied to every role", method)
	}
	for _, r := range roles {
		if r.Includes(need) {
			return nil
		}
	}
	return fmt.Errorf("%s needs role %s (or higher); the client certificate has %s", method, need, describe(roles))
}

func describe(roles []Role) string {
	if len(roles) == 0 {
		return "no role (Subject.Organization names none of os:reader, os:operator, os:etcd:backup, os:admin)"
	}
	return fmt.Sprintf("%v", roles)
}
