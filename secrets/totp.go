package secrets

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app
// supports.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
)

// TOTPKey is a new authenticator secret and the otpauth:// URI that
// carries it to an app (usually as a QR code).
type TOTPKey struct {
	Secret string // base32
	URI    string
}

// NewTOTPKey generates a secret for accountName (the user's email).
func NewTOTPKey(issuer, accountName string) (TOTPKey, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: accountName,
		Period:      totpPeriod,
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
		SecretSize:  20,
	})
	if err != nil {
		return TOTPKey{}, fmt.Errorf("generate totp secret: %w", err)
	}
	return TOTPKey{Secret: key.Secret(), URI: key.URL()}, nil
}

// TOTPStep is the 30-second time step containing t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// MatchTOTP returns the time step whose code equals code, trying the current
// step and one step of drift either way, or ok=false. The caller records the
// step so that each one is accepted once.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	if len(code) != int(totpDigits) {
		return 0, false
	}
	current := TOTPStep(now)
	for _, s := range []int64{current, current - 1, current + 1} {
		want, err := TOTPCode(secret, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// TOTPCode is the code for step; tests and the demo seed use it to play the
// authenticator app.
func TOTPCode(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
}
