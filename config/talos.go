package config

import "regexp"

// Kiln's config is a subset of Talos's v1alpha1 machine config: every concept the two
// share has Talos's field name and shape, so a Talos document that sticks to that subset
// decodes here unchanged. A Talos field Kiln does not implement is refused, never ignored
// (a config that says more than the node does must not look applied), but it is refused
// as what it is: a field of the format that Kiln does not support, not a typo.

// notSupported lists the Talos v1alpha1 fields Kiln does not implement, by path with []
// for any list index. Kiln-only fields that Talos lacks are simply fields of the types.
var notSupported = map[string]bool{
	"debug":   true,
	"persist": true,

	"machine.controlPlane":             true,
	"machine.pods":                     true,
	"machine.disks":                    true,
	"machine.files":                    true,
	"machine.env":                      true,
	"machine.sysfs":                    true,
	"machine.registries":               true,
	"machine.systemDiskEncryption":     true,
	"machine.features":                 true,
	"machine.udev":                     true,
	"machine.logging":                  true,
	"machine.kernel":                   true,
	"machine.seccompProfiles":          true,
	"machine.baseRuntimeSpecOverrides": true,
	"machine.nodeLabels":               true,
	"machine.nodeAnnotations":          true,
	"machine.nodeTaints":               true,

	"machine.install.diskSelector.modalias": true,
	"machine.install.diskSelector.uuid":     true,
	"machine.install.extraKernelArgs":       true,
	"machine.install.extensions":            true,
	"machine.install.legacyBIOSSupport":     true,
	"machine.install.grubUseUKICmdline":     true,

	"machine.network.searchDomains":       true,
	"machine.network.disableSearchDomain": true,
	"machine.network.extraHostEntries":    true,
	"machine.network.kubespan":            true,

	"machine.network.interfaces[].deviceSelector": true,
	"machine.network.interfaces[].bond":           true,
	"machine.network.interfaces[].bridge":         true,
	"machine.network.interfaces[].bridgePort":     true,
	"machine.network.interfaces[].vlans":          true,
	"machine.network.interfaces[].ignore":         true,
	"machine.network.interfaces[].dummy":          true,
	"machine.network.interfaces[].dhcpOptions":    true,
	"machine.network.interfaces[].wireguard":      true,
	"machine.network.interfaces[].vip":            true,

	"machine.network.interfaces[].routes[].source": true,
	"machine.network.interfaces[].routes[].mtu":    true,

	"machine.time.bootTimeout": true,

	"cluster.id":                     true,
	"cluster.secret":                 true,
	"cluster.aescbcEncryptionSecret": true,
	"cluster.aggregatorCA":           true,
	"cluster.proxy":                  true,
	"cluster.discovery":              true,
	"cluster.coreDNS":                true,
	"cluster.externalCloudProvider":  true,
	"cluster.extraManifests":         true,
	"cluster.extraManifestHeaders":   true,
	"cluster.inlineManifests":        true,
	"cluster.adminKubeconfig":        true,

	"cluster.controlPlane.localAPIServerPort": true,

	"machine.kubelet.image":                               true,
	"machine.kubelet.clusterDNS":                          true,
	"machine.kubelet.extraMounts":                         true,
	"machine.kubelet.extraConfig":                         true,
	"machine.kubelet.credentialProviderConfig":            true,
	"machine.kubelet.defaultRuntimeSeccompProfileEnabled": true,
	"machine.kubelet.registerWithFQDN":                    true,
	"machine.kubelet.nodeIP":                              true,
	"machine.kubelet.skipNodeRegistration":                true,
	"machine.kubelet.disableManifestsDirectory":           true,

	"cluster.network.cni":                        true,
	"cluster.apiServer.image":                    true,
	"cluster.apiServer.extraVolumes":             true,
	"cluster.apiServer.env":                      true,
	"cluster.apiServer.disablePodSecurityPolicy": true,
	"cluster.apiServer.admissionControl":         true,
	"cluster.apiServer.auditPolicy":              true,
	"cluster.apiServer.resources":                true,
	"cluster.controllerManager.image":            true,
	"cluster.controllerManager.extraVolumes":     true,
	"cluster.controllerManager.env":              true,
	"cluster.controllerManager.resources":        true,
	"cluster.scheduler.image":                    true,
	"cluster.scheduler.extraVolumes":             true,
	"cluster.scheduler.env":                      true,
	"cluster.scheduler.resources":                true,
	"cluster.scheduler.config":                   true,
	"cluster.etcd.image":                         true,
	"cluster.etcd.advertisedSubnets":             true,
	"cluster.etcd.listenSubnets":                 true,
}

// renamed maps the names Kiln used before it took Talos's to the Talos name, so that an
// old config gets told what to write.
var renamed = map[string]string{
	"machine.network.interfaces[].name": "interface",
	"cluster.name":                      "clusterName",
}

// listIndex matches a list index in a field path, [3].
var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

// unknownFieldReason words the decoder's unknown-field problem at path: a Talos field
// Kiln does not implement, an old Kiln name, or (reason as given) neither.
func unknownFieldReason(path, reason string) string {
	general := listIndex.ReplaceAllString(path, "[]")
	if notSupported[general] {
		return "Talos v1alpha1 field not supported by Kiln: remove it (Kiln implements the fields listed in config/schema.json)"
	}
	if name, ok := renamed[general]; ok {
		return "unknown field: it is now " + name + " (Talos v1alpha1's name)"
	}
	return reason
}
