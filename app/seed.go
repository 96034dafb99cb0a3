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
)

// SeedDemo creates the demo organisation a newcomer can sign in to, or, when
// it exists, gives its login a new password. It prints nothing itself.
func (a *App) SeedDemo(ctx context.Context) (Demo, error) {
	demo := Demo{Email: demoEmail, Password: rand.Text()}
	_, err := a.Identity.SignUp(ctx, crm.SignUpInput{Email: demo.Email, Password: demo.Password, Name: demoName, AccountName: demoAccount},
		crm.Client{UserAgent: "switchboard seed-demo"})
	if crm.IsCode(err, crm.CodeConflict) {
		err = a.Identity.SetPassword(ctx, demo.Email, demo.Password)
	}
	if err != nil {
		return Demo{}, fmt.Errorf("seed demo: %w", err)
	}
	return demo, nil
}
