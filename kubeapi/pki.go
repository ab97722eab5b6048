package kubeapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/minikubelet/minikubelet/internal/atomicfile"
)

// Validity of what the agent issues. Leaf certificates are renewed once less
// than renewBefore of their life is left (k3s renews 90 days ahead of a
// year); the CA lives ten years and is renewed the same way, which then
// renews every leaf it signed.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	renewBefore  = 90 * 24 * time.Hour
)

// AdminUser is the admin client certificate's subject: system:masters is
// the group the API server lets do everything.
const (
	AdminUser  = "minikubelet-admin"
	AdminGroup = "system:masters"
)

// File names under the PKI directory.
const (
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	serverCertFile = "server.crt"
	serverKeyFile  = "server.key"
	adminCertFile  = "admin.crt"
	adminKeyFile   = "admin.key"
)

// PKI is the agent's certificate authority, its serving certificate and
// the admin client certificate, kept as files under one directory (0700;
// keys 0600).
type PKI struct {
	Dir    string
	CA     *x509.Certificate
	caKey  crypto.Signer
	CAPEM  []byte
	Server tls.Certificate
	// AdminCertPEM and AdminKeyPEM go into the kubeconfig.
	AdminCertPEM, AdminKeyPEM []byte
}

// Names are the names and addresses the serving certificate must carry.
type Names struct {
	DNS []string
	IPs []net.IP
}

// EnsurePKI loads the PKI from dir, creating or renewing what is missing,
// about to expire (by now) or, for the serving certificate, missing one of
// names. It is safe to call at every start.
func EnsurePKI(dir string, names Names, now time.Time) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create PKI directory %s: %w", dir, err)
	}
	// MkdirAll leaves an existing directory's mode alone; keys must never
	// be reachable by others.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict PKI directory %s: %w", dir, err)
	}
	p := &PKI{Dir: dir}
	renewedCA, err := p.ensureCA(now)
	if err != nil {
		return nil, err
	}
	serverCert, serverKey, err := p.ensureLeaf(serverCertFile, serverKeyFile, renewedCA, now, func(c *x509.Certificate) bool {
		return coversNames(c, names)
	}, func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    names.DNS,
			IPAddresses: names.IPs,
		}
	})
	if err != nil {
		return nil, err
	}
	if p.Server, err = tls.X509KeyPair(serverCert, serverKey); err != nil {
		return nil, fmt.Errorf("load serving certificate: %w", err)
	}
	p.AdminCertPEM, p.AdminKeyPEM, err = p.ensureLeaf(adminCertFile, adminKeyFile, renewedCA, now, func(*x509.Certificate) bool { return true },
		func() *x509.Certificate {
			return &x509.Certificate{
				Subject:     pkix.Name{CommonName: AdminUser, Organization: []string{AdminGroup}},
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			}
		})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ensureCA loads the CA or makes a new one; it reports whether it made one.
func (p *PKI) ensureCA(now time.Time) (bool, error) {
	certPath, keyPath := filepath.Join(p.Dir, caCertFile), filepath.Join(p.Dir, caKeyFile)
	cert, key, err := loadPair(certPath, keyPath)
	if err == nil && fresh(cert, now) {
		p.CA, p.caKey = cert, key
		p.CAPEM, err = os.ReadFile(certPath)
		return false, err
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, fmt.Errorf("generate CA key: %w", err)
	}
	key = newKey
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: fmt.Sprintf("minikubelet-ca@%d", now.Unix())},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := sign(tmpl, tmpl, key.Public(), key, now, caValidity)
	if err != nil {
		return false, fmt.Errorf("create CA certificate: %w", err)
	}
	if p.CA, err = x509.ParseCertificate(der); err != nil {
		return false, err
	}
	p.caKey = key
	p.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writePair(certPath, keyPath, p.CAPEM, newKey); err != nil {
		return false, err
	}
	return true, nil
}

// ensureLeaf loads a certificate signed by the CA, or issues a new one when
// it is missing, signed by another CA, about to expire or no longer ok.
func (p *PKI) ensureLeaf(certFile, keyFile string, renewAll bool, now time.Time, ok func(*x509.Certificate) bool, tmpl func() *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	certPath, keyPath := filepath.Join(p.Dir, certFile), filepath.Join(p.Dir, keyFile)
	if !renewAll {
		cert, _, err := loadPair(certPath, keyPath)
		switch {
		case err == nil && fresh(cert, now) && cert.CheckSignatureFrom(p.CA) == nil && ok(cert):
			certPEM, err1 := os.ReadFile(certPath)
			keyPEM, err2 := os.ReadFile(keyPath)
			if err := errors.Join(err1, err2); err != nil {
				return nil, nil, err
			}
			return certPEM, keyPEM, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %s: %w", certFile, err)
	}
	t := tmpl()
	t.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := sign(t, p.CA, key.Public(), p.caKey, now, leafValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %s: %w", certFile, err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writePair(certPath, keyPath, certPEM, key); err != nil {
		return nil, nil, err
	}
	keyPEM, err = os.ReadFile(keyPath)
	return certPEM, keyPEM, err
}

// fresh reports whether cert has more than renewBefore of validity left
// (or, for a short-lived one, more than a quarter of its life).
func fresh(cert *x509.Certificate, now time.Time) bool {
	margin := min(renewBefore, cert.NotAfter.Sub(cert.NotBefore)/4)
	return now.After(cert.NotBefore.Add(-time.Hour)) && now.Add(margin).Before(cert.NotAfter)
}

// NeedsRenewal reports whether some certificate of p should be renewed by
// now; the agent checks it periodically and calls EnsurePKI again.
func (p *PKI) NeedsRenewal(now time.Time) bool {
	if !fresh(p.CA, now) {
		return true
	}
	for _, pemData := range [][]byte{p.AdminCertPEM, p.serverCertPEM()} {
		c, err := parseCertPEM(pemData)
		if err != nil || !fresh(c, now) {
			return true
		}
	}
	return false
}

func (p *PKI) serverCertPEM() []byte {
	if len(p.Server.Certificate) == 0 {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Server.Certificate[0]})
}

func coversNames(c *x509.Certificate, names Names) bool {
	for _, n := range names.DNS {
		if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	for _, ip := range names.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer, now time.Time, validity time.Duration) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// Back-date a little so that a clock slightly behind still accepts it.
	tmpl.NotBefore = now.Add(-5 * time.Minute).UTC()
	tmpl.NotAfter = now.Add(validity).UTC()
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// loadPair reads a certificate and its key; fs.ErrNotExist when either is
// missing.
func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		// A half-written renewal: treat as missing so both are made again.
		return nil, nil, fmt.Errorf("%s does not match %s: %w", keyPath, certPath, fs.ErrNotExist)
	}
	return cert, key, nil
}

// writePair writes the key (0600) before the certificate, each atomically,
// so a reader never sees a certificate without its key.
func writePair(certPath, keyPath string, certPEM []byte, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", keyPath, err)
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, certPEM, 0o644)
}
