package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/app"
	layout "github.com/vhsm/vhsm/replica/home"
	"github.com/vhsm/vhsm/replica/sealed"
	"github.com/vhsm/vhsm/replica/testnet"
	"github.com/vhsm/vhsm/threshold/dkg"
)

// Defaults of vhsm testnet: the ports every replica uses on its own host.
const (
	testnetP2PPort = 26656
	testnetAPIPort = 8443
	testnetMinN    = 4
	testnetMaxN    = 64
)

// testnetHostname is a DNS name (RFC 1123 labels).
var testnetHostname = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// testnetOptions are the flags of vhsm testnet.
type testnetOptions struct {
	dir              string
	hosts            []string
	p2pPort, apiPort int
	listen           string
	pools            app.PoolConfig
}

// testnetSummary is what vhsm testnet prints.
type testnetSummary struct {
	Dir      string   `json:"dir"`
	Replicas int      `json:"replicas"`
	T        int      `json:"t"`
	Homes    []string `json:"homes"`
	APIURLs  []string `json:"api_urls"`
	Config   string   `json:"config"`
}

func (c *cli) testnetCmd() *cobra.Command {
	o := testnetOptions{pools: app.DefaultPoolConfig()}
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Generate the configuration of a cluster with one replica per host",
		Long: `Generates (or completes) an n-replica cluster in --dir for replicas that run
on the hosts of --hosts, one replica per host, each on the same --p2p-port
(CometBFT) and --api-port (HTTPS API): DIR/replica-i is the home of the
replica on the i-th host (run it there with vhsm replica --home), and
DIR/client.json the admin client's configuration. n is the number of hosts
(4 to 64; t = (n-1)/3).

It is what docker-compose.yml's init service runs (hosts replica1..4), and
the one-time step of a multi-machine deployment. Run again on the same
directory it reuses every file (identities and keys never change); a home
generated for other hosts or ports is an error.

--listen all (default) makes the API listen on every interface of its host;
--listen host only on the host's name or address. CometBFT listens on the
host's name or address, which its peers dial.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			s, err := runTestnet(o)
			if err != nil {
				return err
			}
			return c.emit(s, fmt.Sprintf("vhsm testnet: %d replicas (t=%d) in %s; copy replica-i to host i and run vhsm replica --home there; client config %s",
				s.Replicas, s.T, s.Dir, s.Config))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "vhsm-testnet", "output directory (created if absent, completed if present)")
	f.StringSliceVar(&o.hosts, "hosts", nil, "comma-separated host names or IP addresses, replica 1 first (required)")
	f.IntVar(&o.p2pPort, "p2p-port", testnetP2PPort, "CometBFT p2p port of every replica")
	f.IntVar(&o.apiPort, "api-port", testnetAPIPort, "HTTPS API port of every replica")
	f.StringVar(&o.listen, "listen", "all", "API listen address: all (every interface) or host (the host's name)")
	f.IntVar(&o.pools.KeyBatch, "key-batch", o.pools.KeyBatch, "keys per key DKG session (genesis)")
	f.IntVar(&o.pools.KeyLow, "key-low", o.pools.KeyLow, "key pool low watermark (genesis)")
	return cmd
}

// check validates the flags.
func (o *testnetOptions) check() error {
	if o.dir == "" {
		return errors.New("--dir must not be empty")
	}
	n := len(o.hosts)
	if n < testnetMinN || n > testnetMaxN {
		return fmt.Errorf("--hosts must name between %d and %d hosts, not %d", testnetMinN, testnetMaxN, n)
	}
	seen := map[string]bool{}
	for i, h := range o.hosts {
		if net.ParseIP(h) == nil && (len(h) > 253 || !testnetHostname.MatchString(h)) {
			return fmt.Errorf("--hosts: host %d (%q) is not a host name or IP address", i+1, h)
		}
		if seen[strings.ToLower(h)] {
			return fmt.Errorf("--hosts: %q appears twice (one replica per host)", h)
		}
		seen[strings.ToLower(h)] = true
	}
	for name, p := range map[string]int{"--p2p-port": o.p2pPort, "--api-port": o.apiPort} {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s must be between 1 and 65535", name)
		}
	}
	if o.p2pPort == o.apiPort {
		return errors.New("--p2p-port and --api-port must differ")
	}
	if o.listen != "all" && o.listen != "host" {
		return fmt.Errorf("--listen must be all or host, not %q", o.listen)
	}
	p := o.pools
	if p.KeyBatch < 1 || p.KeyBatch > dkg.MaxBatch || p.KeyLow < 0 {
		return fmt.Errorf("pools: --key-batch must be in 1..%d, --key-low non-negative", dkg.MaxBatch)
	}
	return nil
}

// replicaConfig is the replica.json of the i-th host (1-based).
func (o *testnetOptions) replicaConfig(i int) *layout.ReplicaConfig {
	n := len(o.hosts)
	host := o.hosts[i-1]
	api := net.JoinHostPort(host, strconv.Itoa(o.apiPort))
	listen := ":" + strconv.Itoa(o.apiPort)
	if o.listen == "host" {
		listen = api
	}
	return &layout.ReplicaConfig{
		Index: i, N: n, T: dkg.DefaultT(n),
		P2PListen: "tcp://" + net.JoinHostPort(host, strconv.Itoa(o.p2pPort)),
		APIListen: listen,
		APIURL:    "https://" + api,
	}
}

// runTestnet writes every replica.json that does not exist yet with the
// hosts' addresses (so testnet.Generate keeps them and derives the peers,
// genesis and client configuration from them), checks the existing ones,
// then generates the rest.
func runTestnet(o testnetOptions) (*testnetSummary, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	n := len(o.hosts)
	// Check every existing home before writing anything.
	var missing []int
	for i := 1; i <= n; i++ {
		home := filepath.Join(dir, "replica-"+strconv.Itoa(i))
		want := o.replicaConfig(i)
		have, err := layout.LoadReplicaConfig(home)
		switch {
		case err == nil:
			if have.N != n || have.P2PListen != want.P2PListen || have.APIListen != want.APIListen || have.APIURL != want.APIURL {
				return nil, fmt.Errorf("%s was generated for %s of a %d-replica cluster, not %s of %d (use another --dir)",
					home, have.APIURL, have.N, want.APIURL, n)
			}
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, i)
		default:
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "replica-"+strconv.Itoa(n+1))); err == nil {
		return nil, fmt.Errorf("%s holds more than %d replicas (use another --dir)", dir, n)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, i := range missing {
		home := filepath.Join(dir, "replica-"+strconv.Itoa(i))
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, err
		}
		b, err := json.MarshalIndent(o.replicaConfig(i), "", "  ")
		if err != nil {
			return nil, err
		}
		if err := sealed.WriteFileAtomic(filepath.Join(home, layout.ReplicaFile), append(b, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("%s: %w", layout.ReplicaFile, err)
		}
	}
	pools := o.pools
	tn, err := testnet.Generate(dir, n, testnet.Options{Pools: &pools})
	if err != nil {
		return nil, err
	}
	s := &testnetSummary{Dir: dir, Replicas: tn.N, T: tn.T, Homes: tn.Homes, Config: tn.ClientPath}
	for i := 1; i <= n; i++ {
		s.APIURLs = append(s.APIURLs, o.replicaConfig(i).APIURL)
	}
	return s, nil
}
