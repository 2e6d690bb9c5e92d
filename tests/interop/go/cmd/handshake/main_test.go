package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's example, run as it is against client-svc.
func TestRunPrintsThirteenStepsAndTheReply(t *testing.T) {
	addr := os.Getenv("CLIENT_ADDR")
	if addr == "" {
		t.Fatal("CLIENT_ADDR is not set: run tests/interop/go/run.sh, which starts the services")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, addr, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	steps := regexp.MustCompile(`(?m)^\s*(\d+)\. `).FindAllStringSubmatch(text, -1)
	if len(steps) != 13 {
		t.Fatalf("want 13 step lines, got %d:\n%s", len(steps), text)
	}
	for i, s := range steps {
		if want := strconv.Itoa(i + 1); s[1] != want {
			t.Fatalf("line %d is step %s, want %s:\n%s", i, s[1], want, text)
		}
	}
	for _, want := range []string{
		"CIPHER_SUITE_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 via ECDHE_ECDSA",
		`got "echo: hello from Go"`,
		"(success: true)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestParseSuite(t *testing.T) {
	for _, name := range []string{"TLS_RSA_WITH_AES_128_GCM_SHA256", "CIPHER_SUITE_TLS_RSA_WITH_AES_128_GCM_SHA256", "tls_rsa_with_aes_128_gcm_sha256"} {
		if s, err := parseSuite(name); err != nil || s != 156 {
			t.Errorf("parseSuite(%q) = %v, %v; want 156", name, s, err)
		}
	}
	for _, name := range []string{"", "UNSPECIFIED", "TLS_NOPE"} {
		if _, err := parseSuite(name); err == nil {
			t.Errorf("parseSuite(%q) succeeded", name)
		}
	}
}
