package resources

import (
	"time"

	"github.com/kiln-os/kiln/config"
)

// Namespaces group resource types by the part of machined that produces them.
const (
	NamespaceConfig  = "config"
	NamespaceNetwork = "network"
	NamespaceRuntime = "runtime"
	NamespaceSecrets = "secrets"
	// NamespaceK8s and NamespaceEtcd hold what the Kubernetes controllers derive and
	// observe (initd/k8s); the names are Talos's (k8s.KubeletSpec, etcd.Spec).
	NamespaceK8s  = "k8s"
	NamespaceEtcd = "etcd"
)

// Resource types. A type lives in one namespace (see Definitions).
const (
	TypeMachineConfig      = "MachineConfig"
	TypeLinkSpec           = "LinkSpec"
	TypeAddressSpec        = "AddressSpec"
	TypeRouteSpec          = "RouteSpec"
	TypeHostnameSpec       = "HostnameSpec"
	TypeResolverSpec       = "ResolverSpec"
	TypeTimeServerSpec     = "TimeServerSpec"
	TypeNetworkStatus      = "NetworkStatus"
	TypeLinkStatus         = "LinkStatus"
	TypeAddressStatus      = "AddressStatus"
	TypeRouteStatus        = "RouteStatus"
	TypeHostnameStatus     = "HostnameStatus"
	TypeResolverStatus     = "ResolverStatus"
	TypeBootServerStatus   = "BootServerStatus"
	TypeTimeStatus         = "TimeStatus"
	TypeSysctlStatus       = "SysctlStatus"
	TypeServiceSpec        = "ServiceSpec"
	TypeServiceSet         = "ServiceSet"
	TypeService            = "Service"
	TypeAPICertificate     = "API"
	TypeSecureBootStatus   = "SecureBootStatus"
	TypeMachineStatus      = "MachineStatus"
	TypePCR11              = "PCR11"
	TypeProcessStats       = "ProcessStats"
	TypeBootStatus         = "BootStatus"
	TypeContainerStatus    = "ContainerStatus"
	TypePayloadStatus      = "PayloadStatus"
	TypeKubeletSpec        = "KubeletSpec"
	TypeEtcdSpec           = "Spec"
	TypeKubernetesStatus   = "KubernetesStatus"
	TypeKubernetesServices = "KubernetesServices"
	TypeEtcdBootstrap      = "Bootstrap"
	TypePayloadImport      = "PayloadImport"
)

// IDs of the types that have exactly one resource.
const (
	MachineConfigID      = "v1alpha1"
	HostnameStatusID     = "hostname"
	ResolverStatusID     = "resolvers"
	APICertificateID     = "api"
	SecureBootStatusID   = "secureboot"
	MachineStatusID      = "machine"
	HostnameSpecID       = "hostname"
	ResolverSpecID       = "resolvers"
	TimeServerSpecID     = "timeservers"
	NetworkStatusID      = "network"
	TimeStatusID         = "node"
	SysctlStatusID       = "sysctls"
	PayloadStatusID      = "payload"
	KubeletSpecID        = "kubelet"
	EtcdSpecID           = "etcd"
	KubernetesStatusID   = "kubernetes"
	KubernetesServicesID = "kubernetes"
	EtcdBootstrapID      = "etcd"
	PayloadImportID      = "payload"
	ServiceSetID         = "services"
	ProcessStatsID       = "machined"
	BootStatusID         = "boot"
)

// Where the machine config came from (DESIGN.md "LoadConfig").
const (
	ConfigSourceState = "state"
	ConfigSourceURL   = "url"
	ConfigSourceFwCfg = "fw_cfg"
	ConfigSourceAPI   = "api"
)

// MachineConfigSpec is the machine config in force, whole and with its secrets (id
// MachineConfigID): controllers derive the node's state from it. The API redacts it on
// the way out (initd/machineapi); nothing else may hand it to a reader.
type MachineConfigSpec struct {
	Config  *config.Config `json:"config"`
	SHA256  string         `json:"sha256"`  // hex digest of the config as it was applied
	Version string         `json:"version"` // the config's own version field, e.g. "v1alpha1"
	Source  string         `json:"source"`  // one of the ConfigSource constants
}

// LinkStatusSpec is one network link as the kernel reports it (id: the link name).
type LinkStatusSpec struct {
	Name         string `json:"name"`
	Index        int    `json:"index"`
	Kind         string `json:"kind"` // "ether", "loopback", ...
	HardwareAddr string `json:"hardwareAddr,omitempty"`
	MTU          int    `json:"mtu"`
	AdminUp      bool   `json:"adminUp"`
	Carrier      bool   `json:"carrier"`
	OperState    string `json:"operState"` // RFC 2863 names: "up", "down", "unknown", ...
}

// AddressStatusSpec is one address on a link (id: "link/address/prefix").
type AddressStatusSpec struct {
	Link    string `json:"link"`
	Address string `json:"address"` // CIDR form, "10.0.2.15/24"
	Family  string `json:"family"`  // "inet" or "inet6"
	Scope   string `json:"scope"`   // "global", "link", "host"
	Source  string `json:"source"`  // "dhcp", "static", "kernel"
}

// HostnameStatusSpec is the node's name (id HostnameStatusID).
type HostnameStatusSpec struct {
	Hostname   string `json:"hostname"`
	Domainname string `json:"domainname,omitempty"`
	Source     string `json:"source"` // "config", "dhcp", "default"
}

// BootServerStatusSpec is the boot file URL a link's DHCP server named (id: the link): where
// the installer of a netbooted node fetches the UKI when the config names no image.
type BootServerStatusSpec struct {
	Link string `json:"link"`
	URL  string `json:"url"`
}

// ResolverStatusSpec is the DNS resolvers in use (id ResolverStatusID).
type ResolverStatusSpec struct {
	Nameservers   []string `json:"nameservers"`
	SearchDomains []string `json:"searchDomains,omitempty"`
	Source        string   `json:"source"` // "config", "dhcp", "default"
}

// ServiceSpec is one supervised service (id: the service name).
type ServiceSpec struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // the supervisor's state names
	Healthy   bool      `json:"healthy"`
	Restarts  int       `json:"restarts"`
	PID       int       `json:"pid,omitempty"`
	Since     time.Time `json:"since"` // when State was entered
	LastError string    `json:"lastError,omitempty"`
	Cgroup    string    `json:"cgroup,omitempty"` // the cgroup of the running process, if it has one
}

// Container states (ContainerStatusSpec.State).
const (
	ContainerWaitingForImage = "waiting for image" // the image is not in containerd's store (yet)
	ContainerStarting        = "starting"
	ContainerRunning         = "running"
	ContainerExited          = "exited"     // and its restart policy keeps it so
	ContainerRestarting      = "restarting" // exited; starts again after a backoff
	ContainerFailed          = "failed"     // could not be started; tried again after a backoff
	ContainerStopped         = "stopped"    // machined stopped it (shutdown)
)

// ContainerStatusSpec is one workload of machine.containers as it runs (id: the
// container's name). It carries no environment: resources are readable by every API
// role, and the config's env values are secret.
type ContainerStatusSpec struct {
	Name     string `json:"name"`
	Image    string `json:"image"`            // the reference the config names
	Digest   string `json:"digest,omitempty"` // the image's manifest digest, once resolved
	State    string `json:"state"`            // one of the Container states
	PID      int    `json:"pid,omitempty"`    // the task's process, while running
	Restarts int    `json:"restarts"`         // starts after the first one
	// ExitCode is the code of the last exit; nil before the container first exited.
	ExitCode  *int      `json:"exitCode,omitempty"`
	Since     time.Time `json:"since"`               // when State was entered
	LastError string    `json:"lastError,omitempty"` // the last start or wait error, kept after recovery
	Restart   string    `json:"restart"`             // the restart policy: always, on-failure or never
}

// PayloadStatusSpec is the Kubernetes payload on this node (id PayloadStatusID).
type PayloadStatusSpec struct {
	// State is one of the Payload states.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"` // why it is not mounted
	File   string `json:"file"`             // the pinned file name
	SHA256 string `json:"sha256"`           // the pinned digest
	// Source is where the mounted copy was taken from in this boot ("" for the stored one).
	Source   string            `json:"source,omitempty"`
	Versions map[string]string `json:"versions,omitempty"`
}

// Payload states.
const (
	PayloadMounted  = "mounted"  // verified and mounted read-only
	PayloadRefused  = "refused"  // missing, or bytes that differ from the pin: not run
	PayloadAbsent   = "absent"   // the image carries no Kubernetes
	PayloadDisabled = "disabled" // the config runs no Kubernetes (no cluster.token)
)

// PayloadImportSpec records that a payload arrived through the API (id PayloadImportID):
// the payload controller looks at the store again.
type PayloadImportSpec struct {
	Imported time.Time `json:"imported"`
	SHA256   string    `json:"sha256"`
}

// KubeletSpecSpec is how the kubelet runs on this node (id KubeletSpecID): derived from
// the config and the node's addresses. It holds no secret (resources are readable by
// every API role): the bootstrap kubeconfig is a file.
type KubeletSpecSpec struct {
	NodeName      string            `json:"nodeName"`
	NodeIP        string            `json:"nodeIP"`
	Endpoint      string            `json:"endpoint"` // the API server the kubelet joins
	ClusterDomain string            `json:"clusterDomain"`
	ClusterDNS    []string          `json:"clusterDNS,omitempty"`
	Taints        []string          `json:"taints,omitempty"`
	Args          []string          `json:"args"` // its command line
	ExtraArgs     map[string]string `json:"extraArgs,omitempty"`
}

// EtcdSpecSpec is how etcd runs on this controlplane node (id EtcdSpecID).
type EtcdSpecSpec struct {
	Name string `json:"name"` // the member name: the node's hostname
	// AdvertisePeerURL and AdvertiseClientURL are what other members and clients use.
	AdvertisePeerURL   string `json:"advertisePeerURL"`
	AdvertiseClientURL string `json:"advertiseClientURL"`
	// Bootstrapped says whether this node has an etcd to run: it was bootstrapped here
	// (kilnctl bootstrap) or its data directory holds a member. Until then etcd waits.
	Bootstrapped bool              `json:"bootstrapped"`
	DataDir      string            `json:"dataDir"`
	Args         []string          `json:"args"`
	ExtraArgs    map[string]string `json:"extraArgs,omitempty"`
}

// EtcdBootstrapSpec records that kilnctl bootstrap asked this node to start a new etcd
// cluster (id EtcdBootstrapID), until etcd's data directory holds the member.
type EtcdBootstrapSpec struct {
	Requested time.Time `json:"requested"`
	By        string    `json:"by"` // the caller's certificate name
	// Snapshot is the SHA-256 of the snapshot the data was restored from (kilnctl
	// bootstrap --recover-from); "" for a new, empty cluster.
	Snapshot string `json:"snapshot,omitempty"`
}

// KubernetesStatusSpec is the health of Kubernetes as this node sees it (id
// KubernetesStatusID): each check, "" when it passes, else why not.
type KubernetesStatusSpec struct {
	Etcd      string    `json:"etcd"`      // controlplane: etcd answers its health check
	APIServer string    `json:"apiServer"` // controlplane: /readyz answers ok
	Node      string    `json:"node"`      // the node's Ready condition is True
	Checked   time.Time `json:"checked"`
}

// APICertificateSpec is the public half of apid's serving certificate (id
// APICertificateID). The private key never becomes a resource: resources are readable
// by every API role.
type APICertificateSpec struct {
	CertificatePEM string    `json:"certificatePEM"`
	DNSNames       []string  `json:"dnsNames,omitempty"`
	IPAddresses    []string  `json:"ipAddresses,omitempty"`
	NotAfter       time.Time `json:"notAfter"`
}

// SecureBootStatusSpec is the firmware's Secure Boot state (id SecureBootStatusID).
type SecureBootStatusSpec struct {
	SecureBoot bool   `json:"secureBoot"`
	SetupMode  bool   `json:"setupMode"`
	Source     string `json:"source"` // "efivars", or "none" on a machine without EFI
}

// Machine stages (MachineStatusSpec.Stage).
const (
	StageBooting      = "booting"
	StageMaintenance  = "maintenance"
	StageRunning      = "running"
	StageUpgrading    = "upgrading"
	StageRebooting    = "rebooting"
	StageShuttingDown = "shuttingDown"
	StageResetting    = "resetting"
)

// MachineStatusSpec is where the machine is in its life (id MachineStatusID).
type MachineStatusSpec struct {
	Stage string `json:"stage"`
	Ready bool   `json:"ready"` // the boot reached Ready: config, API and services up
	// Phase is the boot phase running (or the last one to run).
	Phase string `json:"phase,omitempty"`
}

// PhaseStartServices is the boot phase from which services may run: a boot that fails
// earlier runs none.
const PhaseStartServices = "StartServices"

// ServicesAllowed reports whether the boot has reached the phase where services run.
func (s *MachineStatusSpec) ServicesAllowed() bool {
	return s.Stage == StageRunning || s.Phase == PhaseStartServices || s.Phase == "Ready"
}

// PCR11Spec is PCR 11 after one boot phase (id: the phase, "enter-initrd",
// "leave-initrd" or "ready").
type PCR11Spec struct {
	Phase  string            `json:"phase"`
	Values map[string]string `json:"values"` // bank ("sha256", "sha384") → hex value
}

// ProcessStatsSpec is what PID 1 holds (id ProcessStatsID), refreshed every few
// seconds, so that an operator (or the abuse e2e test) can see that its descriptors and
// heap stay bounded whatever callers do (DESIGN.md "API").
type ProcessStatsSpec struct {
	FDs        int    `json:"fds"`        // open descriptors (entries of /proc/self/fd)
	HeapAlloc  uint64 `json:"heapAlloc"`  // bytes of live and not yet collected heap objects
	HeapSys    uint64 `json:"heapSys"`    // bytes of heap the Go runtime got from the kernel
	Goroutines int    `json:"goroutines"` // goroutines running
}

// Results of an upgrade attempt (UpgradeAttempt.Result).
const (
	UpgradeInstalled  = "installed"  // written; the node reboots into it
	UpgradeStaged     = "staged"     // written; the next reboot boots it
	UpgradeRefused    = "refused"    // a check refused it; the ESP is unchanged
	UpgradeRolledBack = "rolledBack" // Rollback marked the booted UKI bad
)

// BootStatusSpec is which UKI runs, which one it falls back to, and what the last
// upgrade did (id BootStatusID). machined publishes it at boot (from the ESP) and after
// every Upgrade or Rollback.
type BootStatusSpec struct {
	Booted  string `json:"booted"`  // the booted UKI's file name in EFI/Linux
	Version string `json:"version"` // the running version
	// Medium is what the firmware booted from: disk, cdrom (a live ISO), network, or
	// unknown (no UEFI evidence, e.g. a direct kernel boot).
	Medium         string `json:"medium"`
	Standby        string `json:"standby"`        // the previous good UKI, "" if none
	StandbyVersion string `json:"standbyVersion"` // its version
	// FellBack is true when a newer UKI was tried and this boot runs an older one: an
	// upgrade that failed its tries (its file is "+0-N", or counted down and refused).
	FellBack      bool   `json:"fellBack"`
	FailedEntry   string `json:"failedEntry,omitempty"`
	FailedVersion string `json:"failedVersion,omitempty"`
	// LastUpgrade is the last Upgrade or Rollback of this boot, nil if none.
	LastUpgrade *UpgradeAttempt `json:"lastUpgrade,omitempty"`
}

// UpgradeAttempt is one Upgrade or Rollback call.
type UpgradeAttempt struct {
	Version string    `json:"version,omitempty"` // the image's version, if it got that far
	Entry   string    `json:"entry,omitempty"`   // the file written or renamed
	Result  string    `json:"result"`            // one of the Upgrade* results
	Error   string    `json:"error,omitempty"`   // why it was refused
	Time    time.Time `json:"time"`
}

// Definition ties a type to its namespace and its spec.
type Definition struct {
	Namespace, Type string
	NewSpec         func() any // a pointer to a zero spec, to decode JSON into
}

// Definitions lists every resource type machined produces, sorted by namespace and type.
var Definitions = []Definition{
	{NamespaceConfig, TypeMachineConfig, func() any { return new(MachineConfigSpec) }},
	{NamespaceEtcd, TypeEtcdBootstrap, func() any { return new(EtcdBootstrapSpec) }},
	{NamespaceEtcd, TypeEtcdSpec, func() any { return new(EtcdSpecSpec) }},
	{NamespaceK8s, TypeKubeletSpec, func() any { return new(KubeletSpecSpec) }},
	{NamespaceK8s, TypeKubernetesServices, func() any { return new(KubernetesServicesSpec) }},
	{NamespaceK8s, TypeKubernetesStatus, func() any { return new(KubernetesStatusSpec) }},
	{NamespaceK8s, TypePayloadImport, func() any { return new(PayloadImportSpec) }},
	{NamespaceK8s, TypePayloadStatus, func() any { return new(PayloadStatusSpec) }},
	{NamespaceNetwork, TypeAddressSpec, func() any { return new(AddressSpecSpec) }},
	{NamespaceNetwork, TypeAddressStatus, func() any { return new(AddressStatusSpec) }},
	{NamespaceNetwork, TypeBootServerStatus, func() any { return new(BootServerStatusSpec) }},
	{NamespaceNetwork, TypeHostnameSpec, func() any { return new(HostnameSpecSpec) }},
	{NamespaceNetwork, TypeHostnameStatus, func() any { return new(HostnameStatusSpec) }},
	{NamespaceNetwork, TypeLinkSpec, func() any { return new(LinkSpecSpec) }},
	{NamespaceNetwork, TypeLinkStatus, func() any { return new(LinkStatusSpec) }},
	{NamespaceNetwork, TypeNetworkStatus, func() any { return new(NetworkStatusSpec) }},
	{NamespaceNetwork, TypeResolverSpec, func() any { return new(ResolverSpecSpec) }},
	{NamespaceNetwork, TypeResolverStatus, func() any { return new(ResolverStatusSpec) }},
	{NamespaceNetwork, TypeRouteSpec, func() any { return new(RouteSpecSpec) }},
	{NamespaceNetwork, TypeRouteStatus, func() any { return new(RouteStatusSpec) }},
	{NamespaceNetwork, TypeTimeServerSpec, func() any { return new(TimeServerSpecSpec) }},
	{NamespaceNetwork, TypeTimeStatus, func() any { return new(TimeStatusSpec) }},
	{NamespaceRuntime, TypeBootStatus, func() any { return new(BootStatusSpec) }},
	{NamespaceRuntime, TypeContainerStatus, func() any { return new(ContainerStatusSpec) }},
	{NamespaceRuntime, TypeMachineStatus, func() any { return new(MachineStatusSpec) }},
	{NamespaceRuntime, TypePCR11, func() any { return new(PCR11Spec) }},
	{NamespaceRuntime, TypeProcessStats, func() any { return new(ProcessStatsSpec) }},
	{NamespaceRuntime, TypeSecureBootStatus, func() any { return new(SecureBootStatusSpec) }},
	{NamespaceRuntime, TypeService, func() any { return new(ServiceSpec) }},
	{NamespaceRuntime, TypeServiceSet, func() any { return new(ServiceSetSpec) }},
	{NamespaceRuntime, TypeServiceSpec, func() any { return new(ServiceSpecSpec) }},
	{NamespaceRuntime, TypeSysctlStatus, func() any { return new(SysctlStatusSpec) }},
	{NamespaceSecrets, TypeAPICertificate, func() any { return new(APICertificateSpec) }},
}

// Lookup returns the definition of a namespace and type.
func Lookup(namespace, typ string) (Definition, bool) {
	for _, d := range Definitions {
		if d.Namespace == namespace && d.Type == typ {
			return d, true
		}
	}
	return Definition{}, false
}

// NamespaceOf is the namespace of a type, "" for a type not in Definitions.
func NamespaceOf(typ string) string {
	for _, d := range Definitions {
		if d.Type == typ {
			return d.Namespace
		}
	}
	return ""
}
