package wallet_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// pgDSN is the DSN of the PostgreSQL started by startPostgres.
var pgDSN string

// startPostgres initializes a throw-away PostgreSQL cluster (initdb) in a
// temporary directory and starts it (pg_ctl) on a loopback port with its
// unix socket in the same directory. Running as root, the server runs as
// the "postgres" (or "nobody") system user via runuser, since initdb
// refuses root. It returns "" (and logs why) when that is not possible.
func startPostgres(t *testing.T) (string, func()) {
	t.Helper()
	initdb, err1 := exec.LookPath("initdb")
	pgctl, err2 := exec.LookPath("pg_ctl")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("initdb or pg_ctl not on PATH: .ci/run installs PostgreSQL, and CI must not pass by skipping the PostgreSQL suite")
		}
		t.Logf("SKIP postgres suite: initdb or pg_ctl not on PATH")
		return "", nil
	}
	var asUser string
	if os.Geteuid() == 0 {
		for _, name := range []string{"postgres", "nobody"} {
			if _, err := user.Lookup(name); err == nil {
				asUser = name
				break
			}
		}
		if _, err := exec.LookPath("runuser"); asUser == "" || err != nil {
			t.Logf("SKIP postgres suite: running as root without runuser or a postgres/nobody user")
			return "", nil
		}
	}
	dir, err := os.MkdirTemp("", "vhsm-pg-")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		var cmd *exec.Cmd
		if asUser != "" {
			cmd = exec.Command("runuser", append([]string{"-u", asUser, "--"}, args...)...)
		} else {
			cmd = exec.Command(args[0], args[1:]...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(args[0]), err, out)
		}
		return nil
	}
	if asUser != "" {
		u, _ := user.Lookup(asUser)
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := run(initdb, "-D", data, "-U", "vhsm", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60", port, dir)
	if err := run(pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "pg.log"), "-w", "-t", "60", "start"); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	stop := func() {
		if err := run(pgctl, "-D", data, "-m", "immediate", "-w", "stop"); err != nil {
			t.Logf("stop postgres: %v", err)
		}
		os.RemoveAll(dir)
	}
	pgDSN = fmt.Sprintf("postgres://vhsm@127.0.0.1:%d/postgres?sslmode=disable", port)
	return pgDSN, stop
}
