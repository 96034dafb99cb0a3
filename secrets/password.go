package secrets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// DefaultArgon2 is OWASP's recommended minimum for argon2id: 19 MiB, two
// passes, one lane.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// ErrBusy is returned when too many hashes are already waiting: the caller
// should answer RATE_LIMITED rather than queue without bound.
var ErrBusy = errors.New("password hashing is saturated")

// Hasher computes argon2id hashes on a bounded pool: at most Workers at once
// (each holds 19 MiB and a core for tens of milliseconds), with at most
// MaxWaiting callers queued behind them. A login storm therefore takes a
// bounded share of CPU and memory, and other requests keep being served.
type Hasher struct {
	params     Argon2Params
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	dummy      string
}

// NewHasher returns a hasher with workers slots (at least 1; 0 means half the
// CPUs) and a queue of maxWaiting.
func NewHasher(params Argon2Params, workers, maxWaiting int) *Hasher {
	if workers <= 0 {
		workers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	h := &Hasher{params: params, slots: make(chan struct{}, workers), maxWaiting: int64(maxWaiting)}
	// The dummy hash lets a login for an unknown email cost what a wrong
	// password costs, so timing does not reveal which emails exist.
	h.dummy = h.encode(make([]byte, params.SaltLen), argon2.IDKey([]byte("dummy"), make([]byte, params.SaltLen), params.Time, params.MemoryKiB, params.Threads, params.KeyLen))
	return h
}

func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	if h.waiting.Add(1) > h.maxWaiting+int64(cap(h.slots)) {
		h.waiting.Add(-1)
		return nil, ErrBusy
	}
	select {
	case h.slots <- struct{}{}:
		return func() { <-h.slots; h.waiting.Add(-1) }, nil
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, ctx.Err()
	}
}

// Hash returns the PHC string of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	salt := make([]byte, h.params.SaltLen)
	_, _ = rand.Read(salt)
	p := h.params
	return h.encode(salt, argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)), nil
}

func (h *Hasher) encode(salt, key []byte) string {
	p := h.params
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches encoded, and whether encoded used
// other parameters than the hasher's (the caller then stores a new hash).
// An empty encoded verifies against a dummy hash and never matches.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, stale bool, err error) {
	dummy := encoded == ""
	if dummy {
		encoded = h.dummy
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return false, false, err
	}
	defer release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	if dummy {
		return false, false, nil
	}
	stale = p.MemoryKiB != h.params.MemoryKiB || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		len(salt) != h.params.SaltLen || uint32(len(key)) != h.params.KeyLen
	return Equal(got, key), stale, nil
}

func decode(encoded string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, errors.New("unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errors.New("bad argon2 parameters")
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("bad argon2 salt")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("bad argon2 key")
	}
	return p, salt, key, nil
}
