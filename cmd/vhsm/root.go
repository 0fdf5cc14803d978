package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
)

// defaultConfig is the client configuration used when neither --config nor
// VHSM_CONFIG is given: the one vhsm devnet writes by default.
const defaultConfig = "vhsm-devnet/client.json"

// cli holds what every command shares: output streams and global flags.
type cli struct {
	stdout, stderr io.Writer
	configPath     string
	jsonOut        bool

	// cfg and cfgPath are the client configuration loaded by
	// loadClientConfig and the file it came from.
	cfg     *client.Config
	cfgPath string
}

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &cli{stdout: stdout, stderr: stderr}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vhsm",
		Short:         "Virtual distributed HSM: replicas, devnet and client commands",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&c.configPath, "config", "", "client configuration file (default $VHSM_CONFIG, else ./"+defaultConfig+")")
	root.PersistentFlags().BoolVar(&c.jsonOut, "json", false, "print exactly one JSON object on stdout")
	root.AddCommand(
		c.keysCmd(),
		c.signCmd(),
		c.verifyCmd(),
		c.encryptCmd(),
		c.decryptCmd(),
		c.clientsCmd(),
		c.replicaCmd(),
		c.devnetCmd(),
		c.broadcastCmd(),
		c.ethCmd(),
		c.benchCmd(),
		c.testnetCmd(),
		c.walletCmd(),
		c.auditCmd(),
		c.recoverCmd(),
	)
	return root
}

// client loads the configuration and returns a connected client.
func (c *cli) client(opts ...client.Option) (*client.Client, error) {
	cfg, err := c.loadClientConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, opts...)
}

// loadClientConfig reads the HSM client configuration the way the client
// commands do (--config, $VHSM_CONFIG, ./vhsm-devnet/client.json).
func (c *cli) loadClientConfig() (*client.Config, error) {
	path := c.configPath
	if path == "" {
		path = os.Getenv(client.ConfigEnv)
	}
	if path == "" {
		path = defaultConfig
	}
	cfg, err := client.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no client configuration at %s (run vhsm devnet, or pass --config or set %s)", path, client.ConfigEnv)
	}
	if err != nil {
		return nil, err
	}
	c.cfg, c.cfgPath = cfg, path
	return cfg, nil
}

// withClient runs f with a client built from the configuration and closes
// the client afterwards.
func (c *cli) withClient(f func(*client.Client) error) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(cl)
}

// emit prints v as one JSON object with --json, else the human text.
func (c *cli) emit(v any, human string) error {
	if c.jsonOut {
		enc := json.NewEncoder(c.stdout)
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(c.stdout, human)
	return err
}
