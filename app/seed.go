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
// it exists, gives its login a new password. It prints nothing itself.
func (a *App) SeedDemo(ctx context.Context) (Demo, error) {
	demo := Demo{Email: demoEmail, Password: rand.Text()}
	client := crm.Client{UserAgent: "switchboard seed-demo"}
	res, err := a.Identity.SignUp(ctx, crm.SignUpInput{Email: demo.Email, Password: demo.Password, Name: demoName, AccountName: demoAccount}, client)
	if crm.IsCode(err, crm.CodeConflict) {
		// Seeded before: a new password is all it takes.
		if err := a.Identity.SetPassword(ctx, demo.Email, demo.Password); err != nil {
			return Demo{}, fmt.Errorf("seed demo: %w", err)
		}
		return demo, nil
	}
	if err != nil {
		return Demo{}, fmt.Errorf("seed demo: %w", err)
	}
	p := &crm.Principal{User: *res.User, Session: *res.Session}
	if _, err := a.Accounts.CreateAccount(ctx, p, demoSecondAccount, client); err != nil {
		return Demo{}, fmt.Errorf("seed demo: %w", err)
	}
	return demo, nil
}
