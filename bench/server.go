package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// HashParams are the argon2id parameters a server runs with.
type HashParams struct {
	Name        string
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

func (p HashParams) String() string {
	return fmt.Sprintf("m=%d KiB, t=%d, p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}

// Build compiles the service from the module at repo into dir and returns the binary's
// path.
func Build(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "identity")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".") //nolint:gosec // builds into this tool's own temporary directory
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Database is a fresh database created for the run.
type Database struct {
	admin string // URL of a database to connect to for CREATE/DROP and statistics
	name  string
	URL   string
}

// NewDatabase names a fresh database on the server of adminURL; `identity migrate`
// creates it.
func NewDatabase(adminURL, name string) (*Database, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("admin database URL: %w", err)
	}
	u.Path = "/" + name
	return &Database{admin: adminURL, name: name, URL: u.String()}, nil
}

// Drop drops the database, cutting the connections left to it.
func (d *Database) Drop(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("connect to drop %s: %w", d.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// Migrate runs `identity migrate`, which creates the database and applies the migrations.
func Migrate(ctx context.Context, bin, databaseURL string) error {
	cmd := exec.CommandContext(ctx, bin, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+databaseURL, "LOG_LEVEL=warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("identity migrate: %w\n%s", err, out)
	}
	return nil
}

// Server is a running `identity serve`.
type Server struct {
	cmd     *exec.Cmd
	BaseURL string
	done    chan error
	log     *os.File
}

// ServerConfig is what a server is started with.
type ServerConfig struct {
	Bin         string
	DatabaseURL string
	SMTPHost    string
	SMTPPort    int
	Hash        HashParams
	LogPath     string
	// Env is added last: it may override anything above (GOGC, GOMEMLIMIT…).
	Env []string
}

// StartServer starts the binary on a free port and waits until /readyz answers 200.
func StartServer(ctx context.Context, c ServerConfig) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(c.LogPath)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(c.Bin, "serve") //nolint:gosec // the binary this tool just built
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+c.DatabaseURL,
		"HTTP_ADDR="+addr,
		"SMTP_HOST="+c.SMTPHost,
		"SMTP_PORT="+strconv.Itoa(c.SMTPPort),
		"SMTP_TLS=none",
		// The load generator is one client: the per-client limits would measure
		// themselves, not the service.
		"RATE_LIMIT_PER_IP=0",
		// The flood's connections are clients of their own (X-Forwarded-For).
		"TRUSTED_PROXIES=127.0.0.1/32",
		"CODES_PER_CLIENT_PER_DAY=0",
		"ACTIVATION_GUESSES_PER_CLIENT_PER_DAY=0",
		"PASSWORD_HASH_MEMORY_KIB="+strconv.FormatUint(uint64(c.Hash.MemoryKiB), 10),
		"PASSWORD_HASH_ITERATIONS="+strconv.FormatUint(uint64(c.Hash.Iterations), 10),
		"PASSWORD_HASH_PARALLELISM="+strconv.FormatUint(uint64(c.Hash.Parallelism), 10),
	)
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &Server{cmd: cmd, BaseURL: "http://" + addr, done: make(chan error, 1), log: logFile}
	go func() { s.done <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			_ = logFile.Close()
			return nil, fmt.Errorf("server exited at start (%w); see %s", err, c.LogPath)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("server not ready within 30s; see %s", c.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits for the exit (SIGKILL after 15 s).
func (s *Server) Stop() error {
	defer func() { _ = s.log.Close() }()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("server did not stop within 15s after SIGTERM; killed: %w", <-s.done)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Backends reads the CPU time of the PostgreSQL backends connected to one database: the
// server's side of the service's SQL.
type Backends struct {
	conn *pgx.Conn
	db   string
}

// NewBackends connects to adminURL to list the backends of database db.
func NewBackends(ctx context.Context, adminURL, db string) (*Backends, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to read pg_stat_activity: %w", err)
	}
	return &Backends{conn: conn, db: db}, nil
}

// Close closes the connection.
func (b *Backends) Close(ctx context.Context) { _ = b.conn.Close(ctx) }

// CPU returns the CPU time of each backend of the database now, by pid.
func (b *Backends) CPU(ctx context.Context) map[int]time.Duration {
	rows, err := b.conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", b.db)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if s, err := ReadProc(int(pid)); err == nil {
			out[int(pid)] = s.CPU()
		}
	}
	return out
}

// BackendCPUDelta is the CPU the backends spent between two readings; a backend that
// appeared in between counts whole, one that went away is lost.
func BackendCPUDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, cpu := range after {
		d += cpu - before[pid]
	}
	return d
}

// queryString runs a query returning one text value on the database of url.
func queryString(ctx context.Context, url, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	return v, nil
}
