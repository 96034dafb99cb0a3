package gatewaytest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/config"
	"switchboard/db/dbtest"
	"switchboard/gateway"
)

// childEnv marks a test binary re-executed to serve as a separate gateway
// process.
const childEnv = "SWITCHBOARD_GATEWAYTEST_CHILD"

// Main is TestMain for packages whose tests start gateway processes: in a
// child it serves until terminated; otherwise it runs the tests (with
// dbtest's clean-up).
func Main(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(serveChild())
	}
	dbtest.Main(m)
}

func serveChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// SIGUSR1 collects garbage and returns free memory to the system, so a
	// benchmark reads what the process holds, not what it has yet to free
	// (Server.Settle).
	settle := make(chan os.Signal, 1)
	signal.Notify(settle, syscall.SIGUSR1)
	go func() {
		for range settle {
			runtime.GC()
			debug.FreeOSMemory()
			if path := os.Getenv("SWITCHBOARD_GATEWAYTEST_HEAPPROFILE"); path != "" {
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
			fmt.Println("SETTLED")
		}
	}()
	if path := os.Getenv("SWITCHBOARD_GATEWAYTEST_CPUPROFILE"); path != "" {
		// A CPU profile of the process's whole life, for benchmarks.
		if f, err := os.Create(path); err == nil {
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	cfg.AllowedOrigins = []string{cfg.PublicURL}
	a, err := app.New(ctx, app.Options{Config: cfg, DatabaseURL: cfg.DatabaseURL, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	metricsLn, err := gateway.ListenMetrics(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("LISTENING %s\n", ln.Addr())
	if err := a.Serve(ctx, ln, metricsLn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// StartProcess runs a gateway in a separate OS process (this test binary,
// re-executed) on the same database as db, so tests see what crosses
// processes: LISTEN/NOTIFY, row locks, nothing shared in memory. The
// package's TestMain must call Main.
func StartProcess(t testing.TB, database dbtest.Database, env map[string]string) *Server {
	t.Helper()
	cfg := Config(t, env)
	all := map[string]string{
		childEnv:                        "1",
		"DATABASE_URL":                  database.URL,
		"PORT":                          "0",
		"SWITCHBOARD_DATA_DIR":          cfg.DataDir,
		"SWITCHBOARD_SECRET_KEY":        TestSecretKey,
		"SWITCHBOARD_JOB_POLL_INTERVAL": "50ms",
		"SWITCHBOARD_MIGRATE":           "false",
	}
	for k, v := range env {
		all[k] = v
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = os.Environ()
	for k, v := range all {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gateway process: %v", err)
	}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("[process] " + sc.Text())
		}
	}()
	addr := make(chan string, 1)
	settled := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				addr <- a
			}
			if sc.Text() == "SETTLED" {
				settled <- struct{}{}
			}
		}
	}()
	exited := make(chan error, 1)
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			<-logDone
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("gateway process did not stop within 30s")
		}
	}
	go func() { exited <- cmd.Wait() }()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case err := <-exited:
		t.Fatalf("gateway process exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("gateway process did not start within 60s")
	}
	s := &Server{URL: url, Config: cfg, Database: database, Pid: cmd.Process.Pid, client: &http.Client{Timeout: 60 * time.Second}, stop: stop}
	s.settle = func() {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case <-settled:
		case <-time.After(30 * time.Second):
		}
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("gateway process: %v", err)
		}
	})
	s.WaitReady(t)
	return s
}
