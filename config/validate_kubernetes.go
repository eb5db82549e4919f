package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
)

var (
	bootstrapTokenPattern = tagPattern(reflect.TypeFor[Cluster](), "Token")
	extraArgPattern       = tagPattern(reflect.TypeFor[Component](), "ExtraArgs")
)

// Kubernetes reports whether the config runs Kubernetes on the node: it has a bootstrap
// token (cluster.token).
func (c *Config) Kubernetes() bool { return c.Cluster.Token != "" }

// validateKubernetes checks the Kubernetes fields: formats always; with a token, that a
// controlplane has every key and a worker none; without one, that no Kubernetes-only
// field is set (it would have no effect).
func (c *Config) validateKubernetes(l *errorList) {
	k := &c.Cluster
	if k.Token != "" && !bootstrapTokenPattern.MatchString(k.Token) {
		l.add(0, "cluster.token", "must be 6 and 16 lower-case letters or digits joined by a dot (abcdef.0123456789abcdef)")
	}
	if k.Etcd.CA.Crt != "" || k.Etcd.CA.Key != "" {
		k.Etcd.CA.validate(l, "cluster.etcd.ca")
	}
	if k.ServiceAccount.Key != "" {
		if _, err := parsePrivateKeyPEM(k.ServiceAccount.Key); err != nil {
			l.add(0, "cluster.serviceAccount.key", "%v", err)
		}
	}
	if s := k.SecretboxEncryptionSecret; s != "" {
		if key, err := base64.StdEncoding.DecodeString(s); err != nil || len(key) != 32 {
			l.add(0, "cluster.secretboxEncryptionSecret", "must be 32 bytes in base64 (head -c 32 /dev/urandom | base64)")
		}
	}
	k.Network.validate(l, "cluster.network")
	for i, san := range k.APIServer.CertSANs {
		if _, err := netip.ParseAddr(san); err != nil && !isDNSName(san) {
			l.add(0, fmt.Sprintf("cluster.apiServer.certSANs[%d]", i), "%q is neither an IP address nor a DNS name", san)
		}
	}
	for at, args := range map[string]map[string]string{
		"cluster.etcd.extraArgs": k.Etcd.ExtraArgs, "cluster.apiServer.extraArgs": k.APIServer.ExtraArgs,
		"cluster.controllerManager.extraArgs": k.ControllerManager.ExtraArgs, "cluster.scheduler.extraArgs": k.Scheduler.ExtraArgs,
		"machine.kubelet.extraArgs": c.Machine.Kubelet.ExtraArgs,
	} {
		validateExtraArgs(l, at, args)
	}
	c.validateKubernetesKeys(l)
}

// kubernetesKeys are the controlplane-only secrets, by path.
func (c *Config) kubernetesKeys() map[string]string {
	return map[string]string{
		"cluster.etcd.ca.key":               c.Cluster.Etcd.CA.Key,
		"cluster.serviceAccount.key":        c.Cluster.ServiceAccount.Key,
		"cluster.secretboxEncryptionSecret": c.Cluster.SecretboxEncryptionSecret,
	}
}

func (c *Config) validateKubernetesKeys(l *errorList) {
	keys := c.kubernetesKeys()
	for _, at := range slices.Sorted(maps.Keys(keys)) {
		switch {
		case !c.Kubernetes() && keys[at] != "":
			l.add(0, at, "has no effect without cluster.token (which turns Kubernetes on): set the token or remove it")
		case !c.Kubernetes():
		case c.Machine.Type == TypeWorker && keys[at] != "":
			l.add(0, at, "a worker must not carry controlplane secrets: remove it")
		case c.Machine.Type == TypeControlPlane && keys[at] == "":
			l.add(0, at, "a controlplane running Kubernetes needs it (kilnctl gen config writes it)")
		}
	}
	if c.Kubernetes() && c.Cluster.Etcd.CA.Crt == "" && c.Machine.Type == TypeControlPlane {
		l.add(0, "cluster.etcd.ca.crt", "a controlplane running Kubernetes needs etcd's CA")
	}
}

func (n *ClusterNetwork) validate(l *errorList, p string) {
	if n.DNSDomain != "" && !isDNSName(n.DNSDomain) {
		l.add(0, p+".dnsDomain", "%q is not a DNS name", n.DNSDomain)
	}
	validateSubnets(l, p+".podSubnets", n.PodSubnets)
	validateSubnets(l, p+".serviceSubnets", n.ServiceSubnets)
}

// validateSubnets accepts one IPv4 network without host bits: Kiln's pod network is the
// bridge CNI on one family.
func validateSubnets(l *errorList, p string, subnets []string) {
	if len(subnets) > 1 {
		l.add(0, p, "Kiln supports one IPv4 network here, got %d", len(subnets))
	}
	for i, s := range subnets {
		at := fmt.Sprintf("%s[%d]", p, i)
		prefix, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			l.add(0, at, "%q is not a network in CIDR form (10.244.0.0/16)", s)
		case !prefix.Addr().Is4():
			l.add(0, at, "%q is not IPv4 (Kiln's pod network is IPv4 only)", s)
		case prefix.Masked() != prefix:
			l.add(0, at, "%q has host bits set; the network is %s", s, prefix.Masked())
		case prefix.Bits() > 24:
			l.add(0, at, "%q is smaller than a /24", s)
		}
	}
}

func validateExtraArgs(l *errorList, p string, args map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(args)) {
		if !extraArgPattern.MatchString(name) {
			l.add(0, p+"."+name, "a flag name is lower-case letters, digits and dashes, without the leading dashes")
		}
		if strings.ContainsAny(args[name], "\x00\n") {
			l.add(0, p+"."+name, "a flag value must be one line")
		}
	}
}
