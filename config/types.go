package config

// Version1Alpha1 is the only config version this package reads and writes.
const Version1Alpha1 = "v1alpha1"

// Machine types.
const (
	// TypeControlPlane runs the control plane and holds the CA keys.
	TypeControlPlane = "controlplane"
	// TypeWorker joins a control plane and holds CA certificates only.
	TypeWorker = "worker"
)

// Defaults used by consumers when a field is left empty. The config itself keeps the
// empty value, so that encoding what was decoded gives the same document.
const (
	DefaultClusterName   = "kiln"
	DefaultRouteMetric   = 1024
	DefaultTimeServer    = "pool.ntp.org"
	DefaultDNSDomain     = "cluster.local"
	DefaultPodSubnet     = "10.244.0.0/16"
	DefaultServiceSubnet = "10.96.0.0/12"
)

// Struct tags beside yaml and json describe the JSON Schema (config/schema.json):
// required, enum (values separated by |), pattern, min, max, maxLength and default. The
// field doc comments become the schema descriptions, so every field needs one. The kiln
// tag says how a change to the field takes effect on a running node (see class.go); every
// field needs one too.

// Config is one machine's configuration.
type Config struct {
	// Version of the config format; always v1alpha1.
	Version string `yaml:"version" json:"version" required:"true" enum:"v1alpha1" kiln:"reboot"`
	// Machine is what belongs to this node alone.
	Machine Machine `yaml:"machine" json:"machine" required:"true" kiln:"live"`
	// Cluster is what the node shares with the rest of its cluster.
	Cluster Cluster `yaml:"cluster" json:"cluster" required:"true" kiln:"reboot"`
}

// Machine is the node's own part of the config.
type Machine struct {
	// Type is the node's role: controlplane or worker.
	Type string `yaml:"type" json:"type" required:"true" enum:"controlplane|worker" kiln:"reboot"`
	// Token is the cluster join token a node presents to trustd, six and sixteen lower-case letters or digits joined by a dot.
	// A change is live: the control plane's trustd refuses the old token from the next request on.
	Token string `yaml:"token" json:"token" required:"true" pattern:"^[a-z0-9]{6}\\.[a-z0-9]{16}$" kiln:"live,secret"`
	// CA is the OS API certificate authority (PEM); its key is present on controlplane nodes only.
	CA CA `yaml:"ca" json:"ca" required:"true" kiln:"reboot"`
	// AcceptedCAs are further CA certificates (each a crt in PEM, one certificate, never a
	// key) that apid accepts client certificates from, beside machine.ca: roll a new CA in
	// here before the old one goes. A change is live: apid reads the bundle at each handshake.
	AcceptedCAs []AcceptedCA `yaml:"acceptedCAs,omitempty" json:"acceptedCAs,omitempty" kiln:"live"`
	// CertSANs are extra subject alternative names (IP addresses or DNS names) for the node's API server certificate.
	CertSANs []string `yaml:"certSANs,omitempty" json:"certSANs,omitempty" kiln:"reboot"`
	// Network configures links, addresses, routes, hostname and resolvers.
	Network Network `yaml:"network,omitempty" json:"network,omitempty" kiln:"live"`
	// Time configures time synchronisation.
	Time Time `yaml:"time,omitempty" json:"time,omitempty" kiln:"live"`
	// Sysctls are kernel parameters written under /proc/sys, by canonical dotted name
	// (net.ipv4.ip_forward: lower case, single dots, no slashes); values may be written unquoted.
	Sysctls map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty" pattern:"^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$" kiln:"live"`
	// Install says where the installer writes Kiln; empty when the node already boots from its disk.
	Install Install `yaml:"install,omitempty" json:"install,omitempty" kiln:"reboot"`
	// Containers are workloads containerd runs on this node, outside any Kubernetes: a
	// change is live (added ones start, removed ones stop, changed ones are replaced).
	Containers []Container `yaml:"containers,omitempty" json:"containers,omitempty" kiln:"live"`
	// Kubelet configures the kubelet, which runs when the config has a cluster.token.
	Kubelet Kubelet `yaml:"kubelet,omitempty" json:"kubelet,omitempty" kiln:"reboot"`
}

// Container is one workload run by the node's containerd, in the host's network
// namespace (ports are the node's ports), with a read-only root filesystem and no
// capabilities unless it asks.
type Container struct {
	// Name identifies the container on the node: a DNS label (lower-case letters, digits and dashes, at most 63), unique in the list.
	Name string `yaml:"name" json:"name" required:"true" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" kiln:"live"`
	// Image is the image reference (registry/name:tag or name@sha256:digest), as imported with kilnctl image import.
	Image string `yaml:"image" json:"image" required:"true" maxLength:"255" kiln:"live"`
	// Args replace the image's command (its CMD; the ENTRYPOINT stays); empty keeps the image's.
	Args []string `yaml:"args,omitempty" json:"args,omitempty" kiln:"live"`
	// Env adds environment variables (NAME: value) to the image's; the values are secret (they often hold credentials) and never leave the node.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" kiln:"live,secret"`
	// Restart says when an exited container runs again, after a backoff: always (the default), on-failure (a non-zero exit) or never.
	Restart string `yaml:"restart,omitempty" json:"restart,omitempty" enum:"always|on-failure|never" default:"always" kiln:"live"`
	// Resources bounds the container's memory, CPU and process count; empty means unbounded.
	Resources ContainerResources `yaml:"resources,omitempty" json:"resources,omitempty" kiln:"live"`
	// WritableRootFilesystem lets the container write its root filesystem (into a layer that lives as long as the container); default false: the root is read-only.
	WritableRootFilesystem bool `yaml:"writableRootFilesystem,omitempty" json:"writableRootFilesystem,omitempty" default:"false" kiln:"live"`
	// Capabilities are Linux capabilities the container keeps (CAP_NET_BIND_SERVICE, ...); default none.
	Capabilities []string `yaml:"capabilities,omitempty" json:"capabilities,omitempty" kiln:"live"`
}

// ContainerResources are a container's limits, enforced by its cgroup.
type ContainerResources struct {
	// Memory is the most memory the container may use (64MiB, 1GiB; units B, kB, MB, GB, KiB, MiB, GiB); beyond it the kernel's OOM killer stops it.
	Memory string `yaml:"memory,omitempty" json:"memory,omitempty" pattern:"^[0-9]+(\\.[0-9]+)? *([kKMGT]i?B|B)?$" kiln:"live"`
	// CPU is the share of CPU time the container may use, in CPUs (0.5, 2).
	CPU string `yaml:"cpu,omitempty" json:"cpu,omitempty" pattern:"^[0-9]+(\\.[0-9]+)?$" kiln:"live"`
	// Pids is the most processes and threads the container may have; 0 or absent means no limit.
	Pids int `yaml:"pids,omitempty" json:"pids,omitempty" min:"0" max:"4194304" kiln:"live"`
}

// CA is a certificate authority as PEM text.
type CA struct {
	// Crt is the CA certificate, PEM-encoded.
	Crt string `yaml:"crt" json:"crt" required:"true" kiln:"reboot"`
	// Key is the CA private key (PEM, EC or PKCS#8); only on controlplane nodes.
	Key string `yaml:"key,omitempty" json:"key,omitempty" kiln:"reboot,secret"`
}

// AcceptedCA is a CA certificate trusted beside machine.ca; it never carries a key.
type AcceptedCA struct {
	// Crt is the CA certificate, PEM-encoded.
	Crt string `yaml:"crt" json:"crt" required:"true" kiln:"live"`
}

// Network is the node's network configuration.
type Network struct {
	// Hostname is the node's name (RFC 1123, at most 64 bytes); empty means the name DHCP offers, else one machined derives.
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty" maxLength:"64" pattern:"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$" kiln:"live"`
	// Interfaces configures links by name; links not listed stay down.
	Interfaces []Interface `yaml:"interfaces,omitempty" json:"interfaces,omitempty" kiln:"live"`
	// Nameservers are the DNS resolvers' IP addresses; empty means the ones DHCP offers.
	Nameservers []string `yaml:"nameservers,omitempty" json:"nameservers,omitempty" kiln:"live"`
}

// Interface configures one link.
type Interface struct {
	// Name is the kernel's link name, at most 15 bytes (e.g. eth0).
	Name string `yaml:"interface" json:"interface" required:"true" pattern:"^[^/:\\s]{1,15}$" kiln:"reboot"`
	// DHCP asks for an IPv4 address by DHCP; default false.
	DHCP bool `yaml:"dhcp,omitempty" json:"dhcp,omitempty" default:"false" kiln:"reboot"`
	// Addresses are static addresses in CIDR form (192.168.1.10/24), with or without DHCP.
	Addresses []string `yaml:"addresses,omitempty" json:"addresses,omitempty" kiln:"live"`
	// Routes are static routes through this link.
	Routes []Route `yaml:"routes,omitempty" json:"routes,omitempty" kiln:"live"`
	// MTU of the link, 68 to 65535; 0 or absent keeps the link's default.
	MTU int `yaml:"mtu,omitempty" json:"mtu,omitempty" min:"0" max:"65535" kiln:"reboot"`
}

// Route is one static route.
type Route struct {
	// Network is the destination in CIDR form with no host bits set (0.0.0.0/0 for the default route).
	Network string `yaml:"network" json:"network" required:"true" kiln:"live"`
	// Gateway is the next hop's IP address, of the same family as Network; empty for an on-link route.
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty" kiln:"live"`
	// Metric is the route priority, lower wins; 0 or absent means 1024.
	Metric uint32 `yaml:"metric,omitempty" json:"metric,omitempty" min:"0" max:"4294967295" default:"1024" kiln:"live"`
}

// Time configures time synchronisation.
type Time struct {
	// Disabled turns time synchronisation off; default false.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty" default:"false" kiln:"live"`
	// Servers are NTP servers (names or IP addresses); empty means pool.ntp.org.
	Servers []string `yaml:"servers,omitempty" json:"servers,omitempty" kiln:"live"`
}

// Install says where and how Kiln is installed.
type Install struct {
	// Disk is the target block device, an absolute path under /dev (e.g. /dev/vda).
	Disk string `yaml:"disk,omitempty" json:"disk,omitempty" pattern:"^/dev/.+$" kiln:"reboot"`
	// DiskSelector picks the target disk by its properties when Disk is not given; it must match exactly one disk.
	DiskSelector DiskSelector `yaml:"diskSelector,omitempty" json:"diskSelector,omitempty" kiln:"reboot"`
	// Wipe erases the whole disk before installing, not only the Kiln partitions; default false.
	Wipe bool `yaml:"wipe,omitempty" json:"wipe,omitempty" default:"false" kiln:"reboot"`
	// Image is an https URL of the signed UKI to install, used only when the boot medium cannot supply one (a network boot); Talos's installer image reference has no meaning here.
	Image string `yaml:"image,omitempty" json:"image,omitempty" pattern:"^https://" kiln:"reboot"`
	// ImageSHA256 is the SHA-256 of Image, 64 hex digits; required with Image (a Kiln field: Talos pulls a signed container image instead).
	ImageSHA256 string `yaml:"imageSha256,omitempty" json:"imageSha256,omitempty" pattern:"^[0-9a-fA-F]{64}$" kiln:"reboot"`
}

// DiskSelector matches disks by the properties the installer reads from sysfs, with
// Talos v1alpha1's field names; every field given must match. Model, serial, name, wwid
// and busPath are shell globs (path.Match).
type DiskSelector struct {
	// Size is the disk size: exact (4GB, matching a size that rounds to it in that unit) or compared (>= 10GB, <= 2TB, > 1TiB, < 500GiB); units B, kB/KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024).
	Size string `yaml:"size,omitempty" json:"size,omitempty" pattern:"^(>=|<=|>|<|==)? *[0-9]+(\\.[0-9]+)? *([kKMGT]i?B|B)?$" kiln:"reboot"`
	// Name is the device's name as /sys/block/<dev>/device/name reports it (MMC and SD cards), a glob.
	Name string `yaml:"name,omitempty" json:"name,omitempty" kiln:"reboot"`
	// Model is /sys/block/<dev>/device/model, a glob (QEMU HARDDISK, Samsung SSD 9*).
	Model string `yaml:"model,omitempty" json:"model,omitempty" kiln:"reboot"`
	// Serial is /sys/block/<dev>/device/serial (or /sys/block/<dev>/serial for virtio), a glob.
	Serial string `yaml:"serial,omitempty" json:"serial,omitempty" kiln:"reboot"`
	// WWID is /sys/block/<dev>/wwid (or device/wwid), a glob.
	WWID string `yaml:"wwid,omitempty" json:"wwid,omitempty" kiln:"reboot"`
	// Type is the kind of disk: ssd, hdd, nvme or sd (SD/MMC).
	Type string `yaml:"type,omitempty" json:"type,omitempty" enum:"ssd|hdd|nvme|sd" kiln:"reboot"`
	// BusPath is the disk's device path under /sys/devices, without that prefix (/pci0000:00/0000:00:04.0/virtio2), a glob.
	BusPath string `yaml:"busPath,omitempty" json:"busPath,omitempty" kiln:"reboot"`
}

// Cluster is the part of the config every node of a cluster shares.
type Cluster struct {
	// Name of the cluster (an RFC 1123 label); empty means kiln.
	Name string `yaml:"clusterName,omitempty" json:"clusterName,omitempty" maxLength:"63" pattern:"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" default:"kiln" kiln:"reboot"`
	// ControlPlane says where the control plane is reached.
	ControlPlane ControlPlane `yaml:"controlPlane" json:"controlPlane" required:"true" kiln:"reboot"`
	// CA is the Kubernetes certificate authority (PEM); its key is present on controlplane nodes only.
	CA CA `yaml:"ca" json:"ca" required:"true" kiln:"reboot"`
	// Token is the Kubernetes bootstrap token (6 and 16 lower-case letters or digits joined by a dot) with which kubelets join the cluster. A config with a token runs Kubernetes on the node (etcd and the control plane on a controlplane, the kubelet everywhere); without one the node runs only its own services and machine.containers.
	Token string `yaml:"token,omitempty" json:"token,omitempty" pattern:"^[a-z0-9]{6}\\.[a-z0-9]{16}$" kiln:"reboot,secret"`
	// SecretboxEncryptionSecret is the key (32 bytes, base64) with which the API server encrypts Secrets in etcd; controlplane nodes only.
	SecretboxEncryptionSecret string `yaml:"secretboxEncryptionSecret,omitempty" json:"secretboxEncryptionSecret,omitempty" kiln:"reboot,secret"`
	// ServiceAccount holds the key that signs service account tokens; controlplane nodes only.
	ServiceAccount ServiceAccount `yaml:"serviceAccount,omitempty" json:"serviceAccount,omitempty" kiln:"reboot"`
	// Network is the cluster's pod and service networks.
	Network ClusterNetwork `yaml:"network,omitempty" json:"network,omitempty" kiln:"reboot"`
	// Etcd configures etcd on controlplane nodes: its CA (the key on controlplanes only) and extra flags.
	Etcd Etcd `yaml:"etcd,omitempty" json:"etcd,omitempty" kiln:"reboot"`
	// APIServer configures kube-apiserver on controlplane nodes.
	APIServer APIServer `yaml:"apiServer,omitempty" json:"apiServer,omitempty" kiln:"reboot"`
	// ControllerManager configures kube-controller-manager on controlplane nodes.
	ControllerManager Component `yaml:"controllerManager,omitempty" json:"controllerManager,omitempty" kiln:"reboot"`
	// Scheduler configures kube-scheduler on controlplane nodes.
	Scheduler Component `yaml:"scheduler,omitempty" json:"scheduler,omitempty" kiln:"reboot"`
	// AllowSchedulingOnControlPlanes lets pods run on controlplane nodes (no NoSchedule taint); default false.
	AllowSchedulingOnControlPlanes bool `yaml:"allowSchedulingOnControlPlanes,omitempty" json:"allowSchedulingOnControlPlanes,omitempty" default:"false" kiln:"reboot"`
}

// ServiceAccount holds the service account signing key.
type ServiceAccount struct {
	// Key is the private key (PEM, EC or PKCS#8) that signs service account tokens.
	Key string `yaml:"key,omitempty" json:"key,omitempty" kiln:"reboot,secret"`
}

// ClusterNetwork is the cluster's pod and service networks.
type ClusterNetwork struct {
	// DNSDomain is the cluster's DNS domain; empty means cluster.local.
	DNSDomain string `yaml:"dnsDomain,omitempty" json:"dnsDomain,omitempty" default:"cluster.local" kiln:"reboot"`
	// PodSubnets are the pod networks (one IPv4 CIDR); empty means 10.244.0.0/16. Each node gets a /24 of it.
	PodSubnets []string `yaml:"podSubnets,omitempty" json:"podSubnets,omitempty" kiln:"reboot"`
	// ServiceSubnets are the service networks (one IPv4 CIDR); empty means 10.96.0.0/12.
	ServiceSubnets []string `yaml:"serviceSubnets,omitempty" json:"serviceSubnets,omitempty" kiln:"reboot"`
}

// Etcd configures etcd.
type Etcd struct {
	// CA is etcd's certificate authority (PEM): it signs the members' peer and server certificates and the API server's client certificate. The key is on controlplane nodes only.
	CA CA `yaml:"ca,omitempty" json:"ca,omitempty" kiln:"reboot"`
	// ExtraArgs are etcd flags (name without dashes: value) added to, or replacing, the ones Kiln sets.
	ExtraArgs map[string]string `yaml:"extraArgs,omitempty" json:"extraArgs,omitempty" pattern:"^[a-z0-9][a-z0-9-]*$" kiln:"reboot"`
}

// APIServer configures kube-apiserver.
type APIServer struct {
	// CertSANs are extra subject alternative names (IP addresses or DNS names) for the API server's certificate.
	CertSANs []string `yaml:"certSANs,omitempty" json:"certSANs,omitempty" kiln:"reboot"`
	// ExtraArgs are kube-apiserver flags (name without dashes: value) added to, or replacing, the ones Kiln sets.
	ExtraArgs map[string]string `yaml:"extraArgs,omitempty" json:"extraArgs,omitempty" pattern:"^[a-z0-9][a-z0-9-]*$" kiln:"reboot"`
}

// Component configures a control plane program.
type Component struct {
	// ExtraArgs are the program's flags (name without dashes: value) added to, or replacing, the ones Kiln sets.
	ExtraArgs map[string]string `yaml:"extraArgs,omitempty" json:"extraArgs,omitempty" pattern:"^[a-z0-9][a-z0-9-]*$" kiln:"reboot"`
}

// Kubelet configures the kubelet.
type Kubelet struct {
	// ExtraArgs are kubelet flags (name without dashes: value) added to, or replacing, the ones Kiln sets.
	ExtraArgs map[string]string `yaml:"extraArgs,omitempty" json:"extraArgs,omitempty" pattern:"^[a-z0-9][a-z0-9-]*$" kiln:"reboot"`
}

// ControlPlane says where the control plane is reached.
type ControlPlane struct {
	// Endpoint is the Kubernetes API URL: https, a host and a port (https://10.0.2.15:6443).
	Endpoint string `yaml:"endpoint" json:"endpoint" required:"true" pattern:"^https://" kiln:"reboot"`
}
