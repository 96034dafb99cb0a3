package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Box encrypts secrets at rest with AES-256-GCM. Each ciphertext is stored
// with the id of the key that sealed it, so keys can be rotated: a Box opens
// with any key it holds and seals with the first.
type Box struct {
	keys []boxKey
}

type boxKey struct {
	id   string
	aead cipher.AEAD
}

// NewBox returns a Box sealing with primary and also opening what older
// keys sealed. Every key must be 32 bytes.
func NewBox(primary []byte, older ...[]byte) (*Box, error) {
	b := &Box{}
	for _, k := range append([][]byte{primary}, older...) {
		if len(k) != 32 {
			return nil, fmt.Errorf("secrets: key is %d bytes, want 32", len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.keys = append(b.keys, boxKey{id: KeyID(k), aead: aead})
	}
	return b, nil
}

// KeyID names a key without revealing it: the first 8 bytes of its SHA-256
// (domain-separated), in hex.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("switchboard key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// Seal encrypts plaintext. additional binds the ciphertext to its context
// (for example the owning row's id), so it cannot be moved to another row.
func (b *Box) Seal(plaintext, additional []byte) (ciphertext []byte, keyID string) {
	k := b.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, additional), k.id
}

// ErrUnknownKey means the ciphertext was sealed with a key this Box lacks.
var ErrUnknownKey = errors.New("secrets: sealed with an unknown key")

// Open decrypts what Seal returned.
func (b *Box) Open(ciphertext []byte, keyID string, additional []byte) ([]byte, error) {
	for _, k := range b.keys {
		if k.id != keyID {
			continue
		}
		n := k.aead.NonceSize()
		if len(ciphertext) < n {
			return nil, errors.New("secrets: ciphertext too short")
		}
		plain, err := k.aead.Open(nil, ciphertext[:n], ciphertext[n:], additional)
		if err != nil {
			return nil, errors.New("secrets: ciphertext does not authenticate")
		}
		return plain, nil
	}
	return nil, ErrUnknownKey
}

// DevelopmentKey returns the key stored in path, creating it (32 random
// bytes, mode 0600) the first time. Only development uses it; production
// refuses to start without SWITCHBOARD_SECRET_KEY.
func DevelopmentKey(path string) (key []byte, created bool, err error) {
	key, err = os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, false, fmt.Errorf("secrets: %s holds %d bytes, want 32", path, len(key))
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	// Write a temporary file, then link it into place: a concurrent reader
	// never sees a half-written key, and the first of two racing creators
	// wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, false, err
	}
	if err := tmp.Close(); err != nil {
		return nil, false, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return DevelopmentKey(path)
		}
		return nil, false, err
	}
	return key, true, nil
}
