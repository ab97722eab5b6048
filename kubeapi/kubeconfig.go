package kubeapi

import (
	"fmt"
	"net"

	"sigs.k8s.io/yaml"
)

// KubeconfigFile is the admin kubeconfig's name under the agent's --root.
const KubeconfigFile = "admin.kubeconfig"

// ContextName names the cluster, user and context in the kubeconfig.
const ContextName = "minikubelet"

// The kubeconfig's shape (clientcmd/api/v1), spelled out here so the agent
// needs no client-go to write it.
type kubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []namedCluster `json:"clusters"`
	Users          []namedUser    `json:"users"`
	Contexts       []namedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
}

type namedCluster struct {
	Name    string `json:"name"`
	Cluster struct {
		Server                   string `json:"server"`
		CertificateAuthorityData []byte `json:"certificate-authority-data"`
	} `json:"cluster"`
}

type namedUser struct {
	Name string `json:"name"`
	User struct {
		ClientCertificateData []byte `json:"client-certificate-data"`
		ClientKeyData         []byte `json:"client-key-data"`
	} `json:"user"`
}

type namedContext struct {
	Name    string `json:"name"`
	Context struct {
		Cluster   string `json:"cluster"`
		User      string `json:"user"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"context"`
}

// Kubeconfig returns an admin kubeconfig for the API served at addr
// (host:port). An unspecified host (0.0.0.0, ::) becomes loopback, which
// the serving certificate always covers.
func (p *PKI) Kubeconfig(addr string) ([]byte, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("API address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	var kc kubeconfig
	kc.APIVersion, kc.Kind = "v1", "Config"
	var c namedCluster
	c.Name = ContextName
	c.Cluster.Server = "https://" + net.JoinHostPort(host, port)
	c.Cluster.CertificateAuthorityData = p.CAPEM
	var u namedUser
	u.Name = ContextName + "-admin"
	u.User.ClientCertificateData = p.AdminCertPEM
	u.User.ClientKeyData = p.AdminKeyPEM
	var x namedContext
	x.Name = ContextName
	x.Context.Cluster = c.Name
	x.Context.User = u.Name
	kc.Clusters, kc.Users, kc.Contexts = []namedCluster{c}, []namedUser{u}, []namedContext{x}
	kc.CurrentContext = ContextName
	return yaml.Marshal(kc)
}
