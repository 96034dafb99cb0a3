package mail

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// SMTP mailer and the mailtest server must both clean up after themselves.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
