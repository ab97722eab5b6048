package kubeapi

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPKIFilesAndRenewal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	names := Names{DNS: []string{"localhost", "node1"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)}}
	p, err := EnsurePKI(dir, names, now)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %o", fi.Mode().Perm())
	}
	for _, f := range []string{caKeyFile, serverKeyFile, adminKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	leaf, _ := x509.ParseCertificate(p.Server.Certificate[0])
	if err := leaf.VerifyHostname("node1"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("10.96.0.1"); err != nil {
		t.Error(err)
	}
	admin, _ := parseCertPEM(p.AdminCertPEM)
	if admin.Subject.CommonName != AdminUser || admin.Subject.Organization[0] != AdminGroup {
		t.Errorf("admin subject %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: poolOf(p.CA), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert does not verify: %v", err)
	}

	// A second start keeps everything.
	p2, err := EnsurePKI(dir, names, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(p2.CAPEM) != string(p.CAPEM) || string(p2.AdminCertPEM) != string(p.AdminCertPEM) {
		t.Error("certificates changed on a plain restart")
	}
	if p2.NeedsRenewal(now.Add(time.Hour)) {
		t.Error("fresh certificates need renewal")
	}
	// A new node address re-issues the serving certificate only.
	names.IPs = append(names.IPs, net.IPv4(192, 0, 2, 7))
	p3, err := EnsurePKI(dir, names, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf3, _ := x509.ParseCertificate(p3.Server.Certificate[0])
	if leaf3.VerifyHostname("192.0.2.7") != nil || string(p3.AdminCertPEM) != string(p.AdminCertPEM) {
		t.Error("serving certificate not re-issued for the new address, or admin changed")
	}
	// Close to expiry the leaves are renewed, signed by the same CA.
	later := now.Add(leafValidity - renewBefore + 24*time.Hour)
	if !p3.NeedsRenewal(later) {
		t.Error("no renewal due 89 days before expiry")
	}
	p4, err := EnsurePKI(dir, names, later)
	if err != nil {
		t.Fatal(err)
	}
	if string(p4.AdminCertPEM) == string(p.AdminCertPEM) || string(p4.CAPEM) != string(p.CAPEM) {
		t.Error("admin certificate not renewed, or CA replaced")
	}
	kc, err := p4.Kubeconfig("0.0.0.0:6443")
	if err != nil || !strings.Contains(string(kc), "server: https://127.0.0.1:6443") || !strings.Contains(string(kc), "client-key-data:") {
		t.Errorf("kubeconfig %v:\n%s", err, kc)
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
