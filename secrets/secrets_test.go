package secrets

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	a, b := NewToken(PrefixSession), NewToken(PrefixSession)
	if a == b || !WellFormed(a, PrefixSession) || WellFormed(a, PrefixReset) || WellFormed(a[:len(a)-1], PrefixSession) {
		t.Fatalf("tokens %q %q", a, b)
	}
	if bytes.Equal(HashToken(a), HashToken(b)) || len(HashToken(a)) != 32 {
		t.Fatal("hashes")
	}
}

func TestRecoveryCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewRecoveryCode()
		if len(c) != 11 || c[5] != '-' || strings.ContainsAny(c, "01OIL") || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if NormalizeRecoveryCode(strings.ToLower(strings.ReplaceAll(c, "-", " "))) != c {
			t.Fatalf("normalize %q", c)
		}
	}
}

func TestBox(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, err := NewBox(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealed, id := old.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user 1"))
	if bytes.Contains(sealed, []byte("JBSWY3DP")) || id != KeyID(oldKey) {
		t.Fatal("sealed text leaks the plaintext, or wrong key id")
	}
	rotated, err := NewBox(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rotated.Open(sealed, id, []byte("user 1"))
	if err != nil || string(plain) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("rotated box cannot open an old secret: %v", err)
	}
	if _, err := rotated.Open(sealed, id, []byte("user 2")); err == nil {
		t.Fatal("a secret moved to another row opened")
	}
	fresh, _ := NewBox(newKey)
	if _, err := fresh.Open(sealed, id, []byte("user 1")); err != ErrUnknownKey {
		t.Fatalf("unknown key: %v", err)
	}
	if _, nid := rotated.Seal([]byte("x"), nil); nid != KeyID(newKey) {
		t.Fatal("rotation does not seal with the new key")
	}
	if _, err := NewBox([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestHasher(t *testing.T) {
	ctx := context.Background()
	cheap := Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := NewHasher(cheap, 1, 8)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("%q %v", enc, err)
	}
	if ok, stale, err := h.Verify(ctx, "correct horse battery staple", enc); !ok || stale || err != nil {
		t.Fatalf("verify %v %v %v", ok, stale, err)
	}
	if ok, _, _ := h.Verify(ctx, "wrong", enc); ok {
		t.Fatal("wrong password verified")
	}
	if ok, _, err := h.Verify(ctx, "anything", ""); ok || err != nil {
		t.Fatal("the dummy hash verified")
	}
	// New parameters: old hashes still verify, and are reported stale.
	stronger := NewHasher(Argon2Params{MemoryKiB: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, 8)
	if ok, stale, _ := stronger.Verify(ctx, "correct horse battery staple", enc); !ok || !stale {
		t.Fatalf("rehash signal: ok %v stale %v", ok, stale)
	}
	if DefaultArgon2.MemoryKiB != 19456 || DefaultArgon2.Time != 2 || DefaultArgon2.Threads != 1 || DefaultArgon2.SaltLen != 16 {
		t.Fatalf("default parameters drifted: %+v", DefaultArgon2)
	}
}

func TestHasherShedsLoadBeyondItsQueue(t *testing.T) {
	h := NewHasher(Argon2Params{MemoryKiB: 4096, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}, 1, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 12 {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "pw"); err == ErrBusy {
				mu.Lock()
				busy++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if busy == 0 {
		t.Fatal("12 concurrent hashes on 1 worker with a queue of 2: none refused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release, _ := h.acquire(context.Background())
	if _, err := h.Hash(ctx, "pw"); err == nil {
		t.Fatal("a cancelled caller waited for a slot")
	}
	release()
}

func TestTOTP(t *testing.T) {
	key, err := NewTOTPKey("Switchboard", "pat@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0)
	step := TOTPStep(now)
	for drift, ok := range map[int64]bool{0: true, -1: true, 1: true, -2: false, 2: false} {
		c, _ := TOTPCode(key.Secret, step+drift)
		got, matched := MatchTOTP(key.Secret, c, now)
		if matched != ok || (ok && got != step+drift) {
			t.Errorf("drift %d: matched %v step %d", drift, matched, got)
		}
	}
	if _, ok := MatchTOTP(key.Secret, "12345", now); ok {
		t.Error("5 digits matched")
	}
	// RFC 6238 test vector (SHA-1, T=59s): 94287082 truncated to 6 digits.
	rfc := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if c, _ := TOTPCode(rfc, 1); c != "287082" {
		t.Errorf("RFC 6238 vector: %s", c)
	}
}

func TestDevelopmentKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir", "secret.key")
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	created := make([]bool, 8)
	for i := range keys {
		wg.Go(func() {
			var err error
			keys[i], created[i], err = DevelopmentKey(path)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != 32 {
			t.Fatal("racing creators got different keys")
		}
		if created[i] {
			n++
		}
	}
	st, err := os.Stat(path)
	if n != 1 || err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("created %d times, mode %v (%v)", n, st.Mode(), err)
	}
}
