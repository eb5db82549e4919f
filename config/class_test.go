package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// classProblems walks every struct type reachable from t and lists the fields whose kiln
// tag is missing or malformed, and the secret tags on fields that are not strings (only a
// string can read "(redacted)").
func classProblems(t reflect.Type) []string {
	var problems []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			class, err := parseClass(f)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s.%s: %v", t.Name(), f.Name, err))
			case class.secret && !redactable(f.Type):
				problems = append(problems, fmt.Sprintf("%s.%s: secret on a %s; only strings (and maps of strings) can be redacted", t.Name(), f.Name, f.Type))
			}
			if inner := structInside(f.Type); inner != nil {
				walk(inner)
			}
		}
	}
	walk(t)
	return problems
}

// redactable: a string, or a map whose values are strings (each value is redacted).
func redactable(t reflect.Type) bool {
	if t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t.Kind() == reflect.String
}

// structInside is the struct type a field holds, directly or as the element of a list or
// map, or nil.
func structInside(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

func TestEveryConfigFieldIsClassified(t *testing.T) {
	for _, problem := range classProblems(reflect.TypeFor[Config]()) {
		t.Error(problem)
	}
}

// The fixtures: a field without a tag deep inside a list, a misspelt tag, a secret bool.
type classFixture struct {
	Good  string          `kiln:"live"`
	Items []classFixture2 `kiln:"live"`
	Typo  string          `kiln:"reboot,secrte"`
}

type classFixture2 struct {
	Tagged   string `kiln:"reboot,secret"`
	Untagged string
	Flag     bool `kiln:"live,secret"`
	Word     int  `kiln:"sometimes"`
}

func TestClassProblemsFindsUnclassifiedFields(t *testing.T) {
	got := strings.Join(classProblems(reflect.TypeFor[classFixture]()), "\n")
	for _, want := range []string{
		`classFixture.Typo: kiln tag "reboot,secrte": unknown option "secrte"`,
		"classFixture2.Untagged: no kiln tag",
		"classFixture2.Flag: secret on a bool",
		`classFixture2.Word: kiln tag "sometimes" must start with live or reboot`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not name %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Good") || strings.Contains(got, "Tagged:") {
		t.Errorf("well-tagged fields reported:\n%s", got)
	}
}

func TestUnclassifiedFieldCountsAsRebootAndSecret(t *testing.T) {
	f, _ := reflect.TypeFor[classFixture2]().FieldByName("Untagged")
	if class := fieldClassOf(fieldClass{}, f); !class.reboot || !class.secret {
		t.Errorf("untagged field class %+v, want reboot and secret", class)
	}
}

// classification lists every leaf path of Config with its effective class, [] standing
// for any list index and [*] for any map key.
func classification(t reflect.Type, path string, parent fieldClass) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		at, class := joinPath(path, name), fieldClassOf(parent, f)
		switch ft := f.Type; {
		case ft.Kind() == reflect.Struct:
			out = append(out, classification(ft, at, class)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, classification(ft.Elem(), at+"[]", class)...)
		default:
			out = append(out, at+" "+className(class))
		}
	}
	return out
}

func className(c fieldClass) string {
	name := "live"
	if c.reboot {
		name = "reboot"
	}
	if c.secret {
		name += ",secret"
	}
	return name
}

// The issue names what a running node applies live: hostname, static addresses, routes,
// resolvers, sysctls and time servers; issue 12 adds the join token and the accepted
// client CAs (rotation); issue 15 the containers (a controller reconciles them). Everything else waits for a reboot.
func TestClassification(t *testing.T) {
	want := []string{
		"version reboot",
		"machine.type reboot",
		"machine.token live,secret",
		"machine.ca.crt reboot",
		"machine.ca.key reboot,secret",
		"machine.acceptedCAs[].crt live",
		"machine.certSANs reboot",
		"machine.network.hostname live",
		"machine.network.interfaces[].interface reboot",
		"machine.network.interfaces[].dhcp reboot",
		"machine.network.interfaces[].addresses live",
		"machine.network.interfaces[].routes[].network live",
		"machine.network.interfaces[].routes[].gateway live",
		"machine.network.interfaces[].routes[].metric live",
		"machine.network.interfaces[].mtu reboot",
		"machine.network.nameservers live",
		"machine.time.disabled live",
		"machine.time.servers live",
		"machine.sysctls live",
		"machine.install.disk reboot",
		"machine.install.diskSelector.size reboot",
		"machine.install.diskSelector.name reboot",
		"machine.install.diskSelector.model reboot",
		"machine.install.diskSelector.serial reboot",
		"machine.install.diskSelector.wwid reboot",
		"machine.install.diskSelector.type reboot",
		"machine.install.diskSelector.busPath reboot",
		"machine.install.wipe reboot",
		"machine.install.image reboot",
		"machine.install.imageSha256 reboot",
		"machine.containers[].name live",
		"machine.containers[].image live",
		"machine.containers[].args live",
		"machine.containers[].env live,secret",
		"machine.containers[].restart live",
		"machine.containers[].resources.memory live",
		"machine.containers[].resources.cpu live",
		"machine.containers[].resources.pids live",
		"machine.containers[].writableRootFilesystem live",
		"machine.containers[].capabilities live",
		"machine.kubelet.extraArgs reboot",
		"cluster.clusterName reboot",
		"cluster.controlPlane.endpoint reboot",
		"cluster.ca.crt reboot",
		"cluster.ca.key reboot,secret",
		"cluster.token reboot,secret",
		"cluster.secretboxEncryptionSecret reboot,secret",
		"cluster.serviceAccount.key reboot,secret",
		"cluster.network.dnsDomain reboot",
		"cluster.network.podSubnets reboot",
		"cluster.network.serviceSubnets reboot",
		"cluster.etcd.ca.crt reboot",
		"cluster.etcd.ca.key reboot,secret",
		"cluster.etcd.extraArgs reboot",
		"cluster.apiServer.certSANs reboot",
		"cluster.apiServer.extraArgs reboot",
		"cluster.controllerManager.extraArgs reboot",
		"cluster.scheduler.extraArgs reboot",
		"cluster.allowSchedulingOnControlPlanes reboot",
	}
	got := classification(reflect.TypeFor[Config](), "", fieldClass{})
	if !slices.Equal(got, want) {
		t.Errorf("classification:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
