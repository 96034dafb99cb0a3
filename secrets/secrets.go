// Package secrets holds the cryptography for credentials and secrets at
// rest: random tokens and their hashes, argon2id password hashes computed on
// a bounded pool, AES-256-GCM encryption with a key id for rotation, and
// TOTP codes. It knows nothing of users or storage.
package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// Token prefixes make a leaked token recognisable (secret scanners, logs)
// and say what it is for.
const (
	PrefixSession    = "sbs_"
	PrefixChallenge  = "sbc_"
	PrefixReset      = "sbr_"
	PrefixInvitation = "sbi_"
)

// NewToken returns prefix followed by 32 random bytes, base64url without
// padding.
func NewToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is what is stored for a token: its SHA-256. Tokens carry 256
// bits of entropy, so a fast hash is enough; only the hash reaches the
// database.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// WellFormed reports whether token has the prefix and the length NewToken
// produces, so garbage is refused before any lookup.
func WellFormed(token, prefix string) bool {
	return strings.HasPrefix(token, prefix) && len(token) == len(prefix)+43
}

// Equal compares secrets in constant time.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// recoveryAlphabet avoids characters that are easy to misread (0/O, 1/I/L).
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewRecoveryCode returns a single-use code like "K7QM2-XAPD9": 10 symbols
// of a 31-letter alphabet, about 50 bits.
func NewRecoveryCode() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 0, 11)
	for i, c := range b {
		if i == 5 {
			out = append(out, '-')
		}
		// 256 mod 31 = 8: the small bias toward the first 8 letters costs
		// well under a bit of the code's strength.
		out = append(out, recoveryAlphabet[int(c)%len(recoveryAlphabet)])
	}
	return string(out)
}

// NormalizeRecoveryCode accepts what a person types: any case, with or
// without the dash and spaces.
func NormalizeRecoveryCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 10 {
		return s
	}
	return s[:5] + "-" + s[5:]
}
