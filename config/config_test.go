package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != Development || c.Port != 8080 || !c.Migrate || !c.Introspection {
		t.Fatalf("development defaults wrong: %+v", c)
	}
	if c.PublicURL != "http://localhost:8080" || len(c.AllowedOrigins) != 1 || c.AllowedOrigins[0] != "http://localhost:8080" {
		t.Fatalf("public URL %q, origins %v", c.PublicURL, c.AllowedOrigins)
	}
	if c.Limits.OperationTimeout != 15*time.Second || c.Limits.MaxBodyBytes != 1<<20 {
		t.Fatalf("limits %+v", c.Limits)
	}
}

func TestProductionRequiresItsSecrets(t *testing.T) {
	_, err := Load(env(map[string]string{"SWITCHBOARD_ENV": "production"}))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("want DATABASE_URL required, got %v", err)
	}
	_, err = Load(env(map[string]string{"SWITCHBOARD_ENV": "production", "DATABASE_URL": "postgres://db/x"}))
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET_KEY") {
		t.Fatalf("want SWITCHBOARD_SECRET_KEY required, got %v", err)
	}
	c, err := Load(env(map[string]string{"SWITCHBOARD_ENV": "production", "DATABASE_URL": "postgres://db/x",
		"SWITCHBOARD_SECRET_KEY": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Introspection {
		t.Fatal("introspection on by default in production")
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	_, err := Load(env(map[string]string{
		"PORT":                          "http",
		"SWITCHBOARD_ENV":               "staging",
		"SWITCHBOARD_OPERATION_TIMEOUT": "1ms",
		"SWITCHBOARD_PUBLIC_URL":        "not a url",
	}))
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"PORT", "SWITCHBOARD_ENV", "SWITCHBOARD_OPERATION_TIMEOUT", "SWITCHBOARD_PUBLIC_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c, err := Load(env(map[string]string{
		"DATABASE_URL":           "postgres://app:hunter2hunter2@db:5432/crm",
		"SMTP_URL":               "smtp://mailer:hunter2hunter2@mail:587",
		"SWITCHBOARD_SECRET_KEY": "aHVudGVyMmh1bnRlcjJodW50ZXIyaHVudGVyMmh1bnQ=",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), c.LogValue().String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "aHVudGVy") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

// TestREADMEDocumentsEveryVariable keeps the README's table honest.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("README.md has no table row for %s", v.Name)
		}
	}
}

func TestOriginsCompareByCanonicalForm(t *testing.T) {
	for in, want := range map[string]string{
		"HTTPS://App.Example.COM:443/": "https://app.example.com",
		"http://localhost:80":          "http://localhost",
		"http://localhost:8080":        "http://localhost:8080",
		"https://example.com.:8443":    "https://example.com:8443",
		"http://[::1]:80":              "http://[::1]",
		"http://[::1]:8080":            "http://[::1]:8080",
	} {
		got, err := CanonicalOrigin(in)
		if err != nil || got != want {
			t.Errorf("CanonicalOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"null", "example.com", "ftp://example.com", "https://example.com/app", "https://user@example.com", "https://example.com?x=1", "https://"} {
		if got, err := CanonicalOrigin(bad); err == nil {
			t.Errorf("CanonicalOrigin(%q) = %q, want an error", bad, got)
		}
	}

	c, err := Load(env(map[string]string{"SWITCHBOARD_PUBLIC_URL": "HTTPS://CRM.Example.com:443", "PORT": "9000"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AllowedOrigins) != 1 || c.AllowedOrigins[0] != "https://crm.example.com" {
		t.Fatalf("default origins %v, want the public URL's canonical origin", c.AllowedOrigins)
	}
	c, err = Load(env(map[string]string{"SWITCHBOARD_ALLOWED_ORIGINS": "https://A.example:443, http://b.example:8080"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedOrigins, " ") != "https://a.example http://b.example:8080" {
		t.Fatalf("origins %v", c.AllowedOrigins)
	}
	_, err = Load(env(map[string]string{"SWITCHBOARD_ALLOWED_ORIGINS": "https://a.example/app"}))
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_ALLOWED_ORIGINS") {
		t.Fatalf("an origin with a path: %v", err)
	}
	_, err = Load(env(map[string]string{"SWITCHBOARD_PUBLIC_URL": "ftp://files.example"}))
	if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_PUBLIC_URL") {
		t.Fatalf("an ftp public URL: %v", err)
	}
}

func TestMetricsAddr(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("default metrics address %q (%v), want none", c.MetricsAddr, err)
	}
	c, err = Load(env(map[string]string{"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:9090"}))
	if err != nil || c.MetricsAddr != "127.0.0.1:9090" {
		t.Fatalf("metrics address %q (%v)", c.MetricsAddr, err)
	}
	for _, bad := range []string{"9090", "127.0.0.1:http", "127.0.0.1:70000"} {
		_, err := Load(env(map[string]string{"SWITCHBOARD_METRICS_ADDR": bad}))
		if err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_METRICS_ADDR") {
			t.Errorf("metrics address %q: %v", bad, err)
		}
	}
}

func TestStreamLimitKeepsAReserve(t *testing.T) {
	c := Config{DatabaseMaxOpen: 20}
	for files, want := range map[uint64]int{20000: 20000 - (20 + 64 + 2000), 1024: 1024 - (20 + 64 + 256), 100: 25, 0: 0} {
		if got := c.StreamLimit(files); got != want {
			t.Errorf("with %d open files: %d streams, want %d", files, got, want)
		}
	}
	c.Limits.MaxStreams = 7
	if got := c.StreamLimit(20000); got != 7 {
		t.Errorf("configured 7, got %d", got)
	}
}

func TestGCPolicy(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	const gib = 1 << 30
	for _, tc := range []struct {
		name             string
		vars             map[string]string
		cgroup, physical uint64
		want             GC
	}{
		{"GOGC set: Go's own", map[string]string{"GOGC": "100"}, 0, 8 * gib, GC{FromEnv: true}},
		{"GOMEMLIMIT set: Go's own", map[string]string{"GOMEMLIMIT": "1GiB"}, 0, 8 * gib, GC{FromEnv: true}},
		{"machine memory", nil, 0, 8 * gib, GC{Percent: 400, Limit: 6 * gib}},
		{"a cgroup below the machine", nil, 2 * gib, 8 * gib, GC{Percent: 400, Limit: 3 * gib / 2}},
		{"a cgroup above the machine", nil, 64 * gib, 8 * gib, GC{Percent: 400, Limit: 6 * gib}},
		{"nothing known", nil, 0, 0, GC{Percent: 400}},
	} {
		if got := GCPolicy(env(tc.vars), tc.cgroup, tc.physical); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
