package mail

import (
	"context"
	"errors"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"switchboard/crm"
)

func TestDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "outbox") // does not exist yet
	d := NewDir(dir, testFrom)
	emails := []crm.Email{
		{To: "ann@example.com", Subject: "Grüße", Text: "Grüße — 東京\nzweite Zeile"},
		{To: "bob@example.net", Subject: "Two", Text: "two"},
	}
	for _, e := range emails {
		if err := d.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 { // also: no temporary files left behind
		t.Fatalf("got %d entries, want 2: %v", len(entries), entries)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
		}
	}
	name := regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[0-9a-f]{16}\.eml$`)
	subjects := map[string]string{}
	for _, entry := range entries {
		if !name.MatchString(entry.Name()) {
			t.Errorf("unexpected file name %q", entry.Name())
		}
		fi, err := entry.Info()
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", entry.Name(), fi.Mode().Perm())
		}
		f, err := os.Open(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		if err != nil {
			t.Fatalf("%s: %v", entry.Name(), err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		subjects[m.Header.Get("To")] = subject
		_ = f.Close()
	}
	if subjects["<ann@example.com>"] != "Grüße" || subjects["<bob@example.net>"] != "Two" {
		t.Errorf("subjects by recipient: %v", subjects)
	}
}

func TestDirBody(t *testing.T) {
	dir := t.TempDir()
	e := crm.Email{To: "ann@example.com", Subject: "s", Text: "Grüße — 東京\n"}
	if err := NewDir(dir, testFrom).Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := decodedBody(t, parseRendered(t, raw)); got != e.Text+"\n" {
		t.Errorf("body = %q", got)
	}
}

func TestDirRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	d := NewDir(dir, testFrom)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Send(ctx, crm.Email{To: "ann@example.com", Subject: "s", Text: "t"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v", err)
	}
	if err := d.Send(context.Background(), crm.Email{To: "ann@example.com", Subject: "a\nBcc: x@example.net", Text: "t"}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("header injection: err = %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir was created for refused messages (stat err %v)", err)
	}
}
