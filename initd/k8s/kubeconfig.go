package k8s

import (
	"encoding/base64"
	"fmt"
	"strconv"
)

// Kubeconfig is a kubeconfig with one cluster, one user and one context: what every
// program of the node and an administrator's kubectl read (client-go's clientcmd v1
// format). The user authenticates with a client certificate, or a bearer token.
type Kubeconfig struct {
	Cluster, Server, CA string // CA: the cluster CA's PEM
	User                string
	Crt, Key            string // PEM
	Token               string
}

// Bytes renders it as YAML; every value is quoted or base64, so no value can break the
// document.
func (k Kubeconfig) Bytes() []byte {
	b64 := base64.StdEncoding.EncodeToString
	user := fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", b64([]byte(k.Crt)), b64([]byte(k.Key)))
	if k.Token != "" {
		user = fmt.Sprintf("    token: %s\n", strconv.Quote(k.Token))
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
%[5]scontexts:
- name: %[6]s
  context:
    cluster: %[1]s
    user: %[4]s
current-context: %[6]s
`, strconv.Quote(k.Cluster), strconv.Quote(k.Server), b64([]byte(k.CA)), strconv.Quote(k.User), user, strconv.Quote(k.User+"@"+k.Cluster))
}
