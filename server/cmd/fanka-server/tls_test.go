package main

import (
	"crypto/x509"
	"testing"
)

// TestCertSubjectsDiffer: two instances' certificates, made on one host,
// have subjects of their own; OpenSSL (nginx's proxy_ssl_trusted_certificate)
// finds a trusted self-signed certificate by its subject and refuses the
// second of two that share one.
func TestCertSubjectsDiffer(t *testing.T) {
	var subjects, pins []string
	for range 2 {
		cert, pin, err := loadOrCreateCert(t.TempDir(), "127.0.0.1:8443")
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		subjects, pins = append(subjects, leaf.Subject.String()), append(pins, pin)
	}
	if subjects[0] == subjects[1] || pins[0] == pins[1] {
		t.Fatalf("two instances' certificates share a subject or fingerprint: %q", subjects)
	}
}
