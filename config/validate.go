package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/kernel/kspp"
)

// Patterns shared with the JSON Schema: read from the struct tags so that there is one
// source for both.
var (
	tokenPattern    = tagPattern(reflect.TypeFor[Machine](), "Token")
	hostnamePattern = tagPattern(reflect.TypeFor[Network](), "Hostname")
	clusterPattern  = tagPattern(reflect.TypeFor[Cluster](), "Name")
)

func tagPattern(t reflect.Type, field string) *regexp.Regexp {
	f, _ := t.FieldByName(field)
	return regexp.MustCompile(f.Tag.Get("pattern"))
}

// Validate checks what the types cannot say: enums, formats, addresses, the PKI and that
// a worker carries no CA keys. It returns every problem as FieldErrors.
func (c *Config) Validate() error {
	var l errorList
	if c.Version != Version1Alpha1 {
		l.add(0, "version", "must be %s, got %q", Version1Alpha1, c.Version)
	}
	c.Machine.validate(&l, "machine")
	c.Cluster.validate(&l, "cluster")
	c.validateKeysByType(&l)
	c.validateKubernetes(&l)
	return l.err()
}

func (m *Machine) validate(l *errorList, p string) {
	if m.Type != TypeControlPlane && m.Type != TypeWorker {
		l.add(0, p+".type", "must be %s or %s, got %q", TypeControlPlane, TypeWorker, m.Type)
	}
	if !tokenPattern.MatchString(m.Token) {
		l.add(0, p+".token", "must be 6 and 16 lower-case letters or digits joined by a dot (abcdef.0123456789abcdef)")
	}
	m.CA.validate(l, p+".ca")
	validateAcceptedCAs(l, p+".acceptedCAs", m.AcceptedCAs)
	for i, san := range m.CertSANs {
		if _, err := netip.ParseAddr(san); err != nil && !isDNSName(san) {
			l.add(0, fmt.Sprintf("%s.certSANs[%d]", p, i), "%q is neither an IP address nor a DNS name", san)
		}
	}
	m.Network.validate(l, p+".network")
	m.Time.validate(l, p+".time")
	validateSysctls(l, p+".sysctls", m.Sysctls)
	m.Install.validate(l, p+".install")
	validateContainers(l, p+".containers", m.Containers)
}

func validateSysctls(l *errorList, p string, sysctls map[string]string) {
	for _, name := range sortedKeys(sysctls) {
		at := mapEntryPath(p, name)
		if err := kspp.CheckSysctlName(name); err != nil {
			l.add(0, at, "%s", err)
		}
		if sysctls[name] == "" {
			l.add(0, at, "value is empty")
		}
	}
}

func (t *Time) validate(l *errorList, p string) {
	for i, server := range t.Servers {
		if _, err := netip.ParseAddr(server); err != nil && !isDNSName(server) {
			l.add(0, fmt.Sprintf("%s.servers[%d]", p, i), "%q is neither an IP address nor a DNS name", server)
		}
	}
}

// validate: an install section (any field set) names its disk exactly one way, and an
// image comes with its SHA-256.
func (in *Install) validate(l *errorList, p string) {
	if *in == (Install{}) {
		return
	}
	switch hasSelector := in.DiskSelector != (DiskSelector{}); {
	case in.Disk != "" && hasSelector:
		l.add(0, p+".diskSelector", "give disk or diskSelector, not both")
	case in.Disk == "" && !hasSelector:
		l.add(0, p+".disk", "an install section needs disk or diskSelector")
	case in.Disk != "" && (!strings.HasPrefix(in.Disk, "/dev/") || path.Clean(in.Disk) != in.Disk):
		l.add(0, p+".disk", "must be a clean absolute path under /dev (/dev/vda), got %q", in.Disk)
	case hasSelector:
		in.DiskSelector.validate(l, p+".diskSelector")
	}
	in.validateImage(l, p)
}

func (in *Install) validateImage(l *errorList, p string) {
	if in.Image == "" {
		if in.ImageSHA256 != "" {
			l.add(0, p+".imageSha256", "is only meaningful with image")
		}
		return
	}
	if u, err := url.Parse(in.Image); err != nil || u.Scheme != "https" || u.Host == "" {
		l.add(0, p+".image", "must be an https URL of a UKI (https://host/kiln.efi), got %q", in.Image)
	}
	if b, err := hex.DecodeString(in.ImageSHA256); err != nil || len(b) != sha256.Size {
		l.add(0, p+".imageSha256", "must be the image's SHA-256 as 64 hex digits, got %q", in.ImageSHA256)
	}
}

func (s *DiskSelector) validate(l *errorList, p string) {
	if s.Size != "" {
		if _, err := ParseSizeMatcher(s.Size); err != nil {
			l.add(0, p+".size", "%v", err)
		}
	}
	globs := []struct{ field, value string }{{"name", s.Name}, {"model", s.Model}, {"serial", s.Serial}, {"wwid", s.WWID}, {"busPath", s.BusPath}}
	for _, g := range globs {
		if _, err := path.Match(g.value, ""); err != nil {
			l.add(0, p+"."+g.field, "is not a valid glob: %q", g.value)
		}
	}
	switch s.Type {
	case "", "ssd", "hdd", "nvme", "sd":
	default:
		l.add(0, p+".type", "must be ssd, hdd, nvme or sd, got %q", s.Type)
	}
}

func (c *Cluster) validate(l *errorList, p string) {
	if c.Name != "" && !clusterPattern.MatchString(c.Name) {
		l.add(0, p+".clusterName", "must be an RFC 1123 label (lower-case letters, digits, -; at most 63), got %q", c.Name)
	}
	if reason := endpointProblem(c.ControlPlane.Endpoint); reason != "" {
		l.add(0, p+".controlPlane.endpoint", "%s", reason)
	}
	c.CA.validate(l, p+".ca")
}

// endpointProblem says what is wrong with a control plane URL, or "".
func endpointProblem(endpoint string) string {
	const want = "must be https://host:port"
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Sprintf("%s: %v", want, err)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Sprintf("%s, got scheme %q", want, u.Scheme)
	case u.Hostname() == "" || u.Port() == "":
		return fmt.Sprintf("%s, got %q without host or port", want, endpoint)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("%s with nothing after the port, got %q", want, endpoint)
	}
	if port, err := strconv.Atoi(u.Port()); err != nil || port < 1 || port > 65535 {
		return fmt.Sprintf("port %q is not in 1..65535", u.Port())
	}
	return ""
}

// validateKeysByType enforces who holds CA keys: a controlplane signs (trustd, apid, the
// Kubernetes control plane) and needs both; a worker must never carry them.
func (c *Config) validateKeysByType(l *errorList) {
	keys := map[string]string{"machine.ca.key": c.Machine.CA.Key, "cluster.ca.key": c.Cluster.CA.Key}
	for _, at := range []string{"machine.ca.key", "cluster.ca.key"} {
		switch {
		case c.Machine.Type == TypeWorker && keys[at] != "":
			l.add(0, at, "a worker must not carry CA keys: remove it")
		case c.Machine.Type == TypeControlPlane && keys[at] == "":
			l.add(0, at, "a controlplane needs the CA key")
		}
	}
}
