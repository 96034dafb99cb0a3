package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"switchboard/crm"
)

// Dir is a crm.Mailer for development: instead of sending, it writes each
// message as an .eml file that any mail client can open, so links in emails
// (sign-up, password reset) can be followed without a mail server.
//
// Files are named "<UTC timestamp>-<random hex>.eml"; the timestamp makes a
// plain directory listing chronological and the random part keeps concurrent
// sends from colliding. Directory and files are private (0700/0600) because
// messages contain login links.
type Dir struct {
	dir  string
	from string
}

var _ crm.Mailer = (*Dir)(nil)

// NewDir returns a mailer writing into dir with the given From address. The
// directory is created on first use, not here, so it also reappears if a
// developer deletes it while the server runs. The From address is validated
// on every Send by Render.
func NewDir(dir string, from string) *Dir {
	return &Dir{dir: dir, from: from}
}

// String describes the mailer for logs.
func (d *Dir) String() string { return "dir:" + d.dir }

// Send renders e and stores it. The file appears atomically (written to a
// hidden temporary file, then renamed), so a watcher picking up *.eml never
// sees half a message.
func (d *Dir) Send(ctx context.Context, e crm.Email) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	msg, err := Render(d.from, e, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}

	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(r[:]) + ".eml"

	// CreateTemp opens with 0600, so the content is never readable by others,
	// not even before the rename.
	tmp, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(msg); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	// Sync before rename so a crash cannot leave a complete-looking name
	// pointing at an empty file.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return fmt.Errorf("mail: dir: %w", err)
	}
	ok = true
	return nil
}
