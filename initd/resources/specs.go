package resources

// Specs are what controllers want the node to be; statuses are what it is. A spec type
// has one writer (the controller that derives it), a status type the controller that
// makes it so. Spec ids are chosen so that one config item is one resource.

// LinkSpecSpec is one link the config names (id: the link name). No LinkSpec at all
// means the default: DHCP on every physical link with carrier.
type LinkSpecSpec struct {
	Name string `json:"name"`
	DHCP bool   `json:"dhcp"`
	MTU  int    `json:"mtu,omitempty"` // 0 keeps the link's MTU
}

// AddressSpecSpec is one static address (id: "link_address_prefix").
type AddressSpecSpec struct {
	Link    string `json:"link"`
	Address string `json:"address"` // CIDR form, "10.0.2.99/24"
}

// RouteSpecSpec is one static route (id: "link_network_gateway").
type RouteSpecSpec struct {
	Link    string `json:"link"`
	Network string `json:"network"`           // CIDR form
	Gateway string `json:"gateway,omitempty"` // empty: on-link
	Metric  uint32 `json:"metric"`
}

// HostnameSpecSpec is the name the config gives the node (id HostnameSpecID); empty
// leaves it to DHCP, else a name derived from the hardware. The network spec controller
// writes it after every other network spec, so ConfigSHA256 tells a reader which config
// the whole set of network specs comes from.
type HostnameSpecSpec struct {
	Hostname     string `json:"hostname,omitempty"`
	ConfigSHA256 string `json:"configSHA256,omitempty"` // empty: derived without a config
}

// ResolverSpecSpec is the resolvers the config names (id ResolverSpecID); none leaves
// them to DHCP.
type ResolverSpecSpec struct {
	Nameservers []string `json:"nameservers,omitempty"`
}

// TimeServerSpecSpec is how the node keeps time (id TimeServerSpecID).
type TimeServerSpecSpec struct {
	Servers  []string `json:"servers,omitempty"` // none: the default pool
	Disabled bool     `json:"disabled"`
}

// NetworkStatusSpec says whether the network controller has applied the network specs
// (id NetworkStatusID), and which config they came from.
type NetworkStatusSpec struct {
	ConfigSHA256 string `json:"configSHA256,omitempty"`
	Ready        bool   `json:"ready"`
	Error        string `json:"error,omitempty"` // why the last attempt failed
}

// RouteStatusSpec is one route installed on a link (id: "link_network_gateway").
type RouteStatusSpec struct {
	Link    string `json:"link"`
	Network string `json:"network"`
	Gateway string `json:"gateway,omitempty"`
	Metric  uint32 `json:"metric"`
	Source  string `json:"source"` // "dhcp" or "static"
}

// TimeStatusSpec is the state of time sync (id TimeStatusID).
type TimeStatusSpec struct {
	Disabled bool   `json:"disabled"`
	Synced   bool   `json:"synced"`
	Server   string `json:"server,omitempty"` // the server of the last sync
	Offset   string `json:"offset,omitempty"` // measured before the clock was stepped
	Error    string `json:"error,omitempty"`
}

// SysctlStatusSpec is the config's kernel parameters as written (id SysctlStatusID).
type SysctlStatusSpec struct {
	ConfigSHA256 string            `json:"configSHA256"`
	Values       map[string]string `json:"values,omitempty"` // name → value read back
	Errors       map[string]string `json:"errors,omitempty"` // name → why it was not written
}

// ServiceSetSpec names every service the machine runs (id ServiceSetID). The service spec
// controller writes it after the ServiceSpecs it names, so a reader that sees it knows the
// set is whole: the service controller acts only on a whole set (a partial one would
// make it stop services that are merely not written yet), and the boot waits for these
// names to be healthy.
type ServiceSetSpec struct {
	Names []string `json:"names"`
}

// ServiceSpecSpec is one service the supervisor should run (id: the service name). It is
// data, not code: the service controller turns it into a process.
type ServiceSpecSpec struct {
	Name      string   `json:"name"`
	Argv      []string `json:"argv"`
	Env       []string `json:"env,omitempty"`
	DependsOn []string `json:"dependsOn,omitempty"`
	// UID and GID run the process as that user; 0 runs it as root.
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
	// Output names the log ring of the service ("" means the console).
	Output string `json:"output,omitempty"`
	// HealthTCP, if set, is an address that accepts connections once the service is
	// healthy; HealthFile, a file the service keeps fresh (watchdogd).
	HealthTCP  string `json:"healthTCP,omitempty"`
	HealthFile string `json:"healthFile,omitempty"`
	// HealthContainerd, if set, is containerd's socket: healthy once its API answers.
	HealthContainerd string `json:"healthContainerd,omitempty"`
	// HealthHTTP, if set, is an http or https URL on loopback that answers 200 once the
	// service is healthy (its certificate is not checked: the check is about the service,
	// and the service's own clients check it).
	HealthHTTP string `json:"healthHTTP,omitempty"`
	// StartTimeoutSeconds, when set, is how long the service may take to become healthy
	// before its run is ended and restarted; 0 means the supervisor's minute.
	StartTimeoutSeconds int `json:"startTimeoutSeconds,omitempty"`
	// FailureThreshold, when set, is how many failed health checks in a row restart the
	// service once it was healthy, instead of the supervisor's default.
	FailureThreshold int `json:"failureThreshold,omitempty"`
	// Generation changes when the service must restart to pick up new inputs (a new
	// certificate), though its command line stays the same.
	Generation string `json:"generation,omitempty"`
	// Optional services do not hold back Ready: the node is ready, and says why, when
	// Kubernetes cannot run.
	Optional bool `json:"optional,omitempty"`
	// Hold, when set, keeps the service stopped and says why (etcd until the cluster is
	// bootstrapped, every Kubernetes service while the payload is refused).
	Hold string `json:"hold,omitempty"`
}

// KubernetesServicesSpec is the services Kubernetes adds to the node's set (id
// KubernetesServicesID), written by the Kubernetes controller: the service spec
// controller adds them to the set, so one supervisor runs them all.
type KubernetesServicesSpec struct {
	Services []ServiceSpecSpec `json:"services"`
}
