package rbac

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kiln-os/kiln/api/machine"
)

// fullNames lists "/package.Service/Method" for every RPC of every service in file.
func fullNames(file protoreflect.FileDescriptor) []string {
	var names []string
	services := file.Services()
	for i := 0; i < services.Len(); i++ {
		methods := services.Get(i).Methods()
		for j := 0; j < methods.Len(); j++ {
			names = append(names, fmt.Sprintf("/%s/%s", services.Get(i).FullName(), methods.Get(j).Name()))
		}
	}
	return names
}

func TestEveryRPCHasARole(t *testing.T) {
	names := fullNames(machine.File_machine_machine_proto)
	if len(names) < 14 {
		t.Fatalf("found %d RPCs in machine.proto, want at least 14: the walk is broken", len(names))
	}
	for _, name := range names {
		if _, ok := Methods[name]; !ok {
			t.Errorf("%s has no role in rbac.Methods: add one", name)
		}
	}
}

func TestTableNamesOnlyExistingRPCs(t *testing.T) {
	known := map[string]bool{}
	for _, name := range fullNames(machine.File_machine_machine_proto) {
		known[name] = true
	}
	for name := range Methods {
		if !known[name] && !strings.Contains(name, ".reflection.") {
			t.Errorf("rbac.Methods names %s, which machine.proto does not define", name)
		}
	}
}

func TestRolesNest(t *testing.T) {
	cases := []struct {
		have, need Role
		want       bool
	}{
		{Admin, Admin, true}, {Admin, Operator, true}, {Admin, Reader, true},
		{Operator, Admin, false}, {Operator, Operator, true}, {Operator, Reader, true},
		{Reader, Admin, false}, {Reader, Operator, false}, {Reader, Reader, true},
		// os:etcd:backup is a reader that may snapshot etcd; an operator may not.
		{EtcdBackup, EtcdBackup, true}, {EtcdBackup, Reader, true}, {EtcdBackup, Operator, false}, {EtcdBackup, Admin, false},
		{Operator, EtcdBackup, false}, {Reader, EtcdBackup, false}, {Admin, EtcdBackup, true},
		{Role("os:root"), Reader, false}, {Role(""), Reader, false},
	}
	for _, c := range cases {
		if got := c.have.Includes(c.need); got != c.want {
			t.Errorf("%q.Includes(%q) = %v, want %v", c.have, c.need, got, c.want)
		}
	}
}

func TestAuthorize(t *testing.T) {
	reboot := machine.MachineService_Reboot_FullMethodName
	if err := Authorize(reboot, []Role{Reader, Operator}); err != nil {
		t.Errorf("operator denied Reboot: %v", err)
	}
	err := Authorize(reboot, []Role{Reader})
	if err == nil || !strings.Contains(err.Error(), string(Operator)) {
		t.Errorf("reader calling Reboot: got %v, want a denial naming %s", err, Operator)
	}
	if err := Authorize("/kiln.machine.v1.MachineService/Nope", []Role{Admin}); err == nil {
		t.Error("admin allowed an unknown method")
	}
	if err := Authorize(machine.MachineService_Version_FullMethodName, nil); err == nil {
		t.Error("no role allowed Version")
	}
}

func TestRolesFromOrganization(t *testing.T) {
	cert := &x509.Certificate{Subject: pkix.Name{Organization: []string{"acme", "os:reader", "os:admin"}}}
	got := Roles(cert)
	if len(got) != 2 || got[0] != Reader || got[1] != Admin {
		t.Errorf("Roles = %v, want [os:reader os:admin]", got)
	}
	if got := Roles(&x509.Certificate{}); len(got) != 0 {
		t.Errorf("Roles of a certificate without Organization = %v, want none", got)
	}
}
