package pgboot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// identity is the OS account initdb, pg_ctl and the server run as.
type identity struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	// switchUser is set when we are root: PostgreSQL refuses to run as root,
	// so children drop to this account via SysProcAttr.Credential (no sudo/su).
	switchUser bool
}

// serverIdentity is the account to run a new or existing private cluster as:
// the current user, or when root the "postgres" system user (what a Debian
// PostgreSQL install creates), else "nobody".
func serverIdentity() (identity, error) {
	if os.Geteuid() != 0 {
		return currentIdentity()
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return identityOf(u)
	}
	return identity{}, fmt.Errorf("pgboot: running as root, and PostgreSQL refuses to run as root, but there is no unprivileged user to run it as: %w",
		errors.Join(errs...))
}

// ownerIdentity is the account to run pg_ctl as for an existing cluster: its
// owner when we are root, otherwise ourselves.
func ownerIdentity(dataDir string) (identity, error) {
	if os.Geteuid() != 0 {
		return currentIdentity()
	}
	st, err := statT(dataDir)
	if err != nil {
		return identity{}, err
	}
	if st.Uid == 0 {
		return identity{}, fmt.Errorf("pgboot: %s is owned by root, which cannot run PostgreSQL", dataDir)
	}
	id := identity{name: "uid " + strconv.Itoa(int(st.Uid)), uid: st.Uid, gid: st.Gid, switchUser: true}
	if u, err := user.LookupId(strconv.Itoa(int(st.Uid))); err == nil {
		if full, err := identityOf(u); err == nil {
			id = full
		}
	}
	return id, nil
}

func currentIdentity() (identity, error) {
	gids, err := os.Getgroups()
	if err != nil {
		return identity{}, fmt.Errorf("pgboot: listing groups: %w", err)
	}
	id := identity{name: "uid " + strconv.Itoa(os.Geteuid()), uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
	if u, err := user.Current(); err == nil {
		id.name = u.Username
	}
	for _, g := range gids {
		id.groups = append(id.groups, uint32(g))
	}
	return id, nil
}

func identityOf(u *user.User) (identity, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return identity{}, fmt.Errorf("pgboot: user %s: bad uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return identity{}, fmt.Errorf("pgboot: user %s: bad gid %q", u.Username, u.Gid)
	}
	id := identity{name: u.Username, uid: uint32(uid), gid: uint32(gid), switchUser: true}
	// Supplementary groups only matter for directory traversal checks and
	// file access; a failed lookup just means fewer groups.
	gidStrs, _ := u.GroupIds()
	for _, s := range gidStrs {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			id.groups = append(id.groups, uint32(g))
		}
	}
	return id, nil
}

// command prepares bin to run as id in dir. PG* variables are dropped so a
// developer's PGDATA/PGPORT cannot redirect the private cluster, and the C
// locale avoids warnings about locales missing on minimal systems.
func (id identity) command(ctx context.Context, dir, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	// A directory the child can enter: root's cwd (e.g. /root) may not be.
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, "LC_ALL=C")
	if id.switchUser {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups}}
	}
	// The postmaster pg_ctl forks writes to server.log, not our pipes, but
	// never hang on a stray inherited descriptor.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// chown gives path to id when we are switching users; otherwise we already own it.
func (id identity) chown(path string) error {
	if !id.switchUser {
		return nil
	}
	if err := os.Chown(path, int(id.uid), int(id.gid)); err != nil {
		return fmt.Errorf("pgboot: giving %s to %s: %w", path, id.name, err)
	}
	return nil
}

// prepareParent creates dir like os.MkdirAll, giving each directory it
// creates to id so that the server's user may work there, after checking that
// id can reach the deepest directory that already exists (the ones created
// are id's own).
func prepareParent(dir string, id identity) error {
	var missing []string
	p := dir
	for {
		_, err := os.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pgboot: %w", err)
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
		p = filepath.Dir(p)
	}
	if err := checkTraversable(p, id); err != nil {
		return err
	}
	for _, p := range slices.Backward(missing) {
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("pgboot: %w", err)
		}
		if err := id.chown(p); err != nil {
			return err
		}
	}
	return nil
}

// checkTraversable verifies that id may search every directory from / down
// to dir. Only needed when switching users: a root-only directory on the path
// (a 0700 home or temp dir) would otherwise surface as an obscure initdb error.
func checkTraversable(dir string, id identity) error {
	if !id.switchUser {
		return nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		st, err := statT(p)
		if err != nil {
			return err
		}
		if !canSearch(st, id) {
			return fmt.Errorf("pgboot: PostgreSQL refuses to run as root, so the private cluster runs as user %s, "+
				"but %s (mode %04o, owner uid %d) is not traversable by it; run `chmod o+x %s` or put DataDir elsewhere",
				id.name, p, st.Mode&0o7777, st.Uid, p)
		}
		if filepath.Dir(p) == p {
			return nil
		}
	}
}

// canSearch applies the classic owner/group/other execute-bit check (ACLs are
// ignored; they are rare on development machines).
func canSearch(st *syscall.Stat_t, id identity) bool {
	switch {
	case st.Uid == id.uid:
		return st.Mode&0o100 != 0
	case st.Gid == id.gid || slices.Contains(id.groups, st.Gid):
		return st.Mode&0o010 != 0
	default:
		return st.Mode&0o001 != 0
	}
}

func statT(path string) (*syscall.Stat_t, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("pgboot: stat %s: %w", path, err)
	}
	return &st, nil
}
