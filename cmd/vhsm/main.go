// Command vhsm is the single binary of the virtual distributed HSM: it runs
// a replica (vhsm replica), a local development cluster (vhsm devnet), and
// the client commands that generate keys, sign, verify, encrypt and decrypt
// through the replicas (vhsm keys, sign, verify, encrypt, decrypt, clients).
//
// Client commands read their configuration from --config, else the file
// named by VHSM_CONFIG, else ./vhsm-devnet/client.json. With --json every
// command prints exactly one JSON object on stdout. Errors go to stderr and
// make the exit status non-zero.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	setProcs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vhsm: %v\n", err)
		os.Exit(1)
	}
}
