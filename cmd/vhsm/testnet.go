package main

import (
	"fmt"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/testnet"
)

// devnetReplica is how devnet starts one replica: the arguments after the
// executable.
type devnetReplica struct{ args []string }

// devnetFiles is a generated (or reused) devnet.
type devnetFiles struct {
	client     *client.Config
	clientPath string
	replicas   []devnetReplica
}

// ensureTestnet generates an n-replica testnet in dir, reusing every file
// already there (so a restarted devnet keeps its identities and keys).
func ensureTestnet(dir string, n int) (*devnetFiles, error) {
	tn, err := testnet.Generate(dir, n, testnet.Options{})
	if err != nil {
		return nil, fmt.Errorf("generate devnet: %w", err)
	}
	if tn.N != n {
		return nil, fmt.Errorf("%s holds a %d-replica devnet, not %d", dir, tn.N, n)
	}
	cfg, err := client.Load(tn.ClientPath)
	if err != nil {
		return nil, err
	}
	f := &devnetFiles{client: cfg, clientPath: tn.ClientPath}
	for _, home := range tn.Homes {
		f.replicas = append(f.replicas, devnetReplica{args: []string{"replica", "--home", home}})
	}
	return f, nil
}
