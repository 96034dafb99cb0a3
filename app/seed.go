package app

import (
	"context"
	"crypto/rand"
	"fmt"

	"switchboard/crm"
)

// Demo is how to sign in to the demo organisation.
type Demo struct {
	Email    string
	Password string
}

const (
	demoEmail   = "demo@switchboard.localhost"
	demoName    = "Dana Demo"
	demoAccount = "Demo Sales"
	// A second account shows the switcher and cross-account isolation.
	demoSecondAccount = "Demo Marketing"
)

// SeedDemo creates the demo organisation a newcomer can sign in to, or, when
// it exists, gives its login a new password. It leaves no session behind,
// so the first real sign-in is not told it signed someone out. It prints
// nothing itself.
func (a *App) SeedDemo(ctx context.Context) (Demo, error) {
	demo := Demo{Email: demoEmail, Password: rand.Text()}
	_, err := a.Identity.Provision(ctx, crm.SignUpInput{Email: demo.Email, Password: demo.Password, Name: demoName, AccountName: demoAccount},
		demoSecondAccount)
	if err != nil {
		return Demo{}, fmt.Errorf("seed demo: %w", err)
	}
	return demo, nil
}
