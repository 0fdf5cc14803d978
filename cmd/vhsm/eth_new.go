package main

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
)

// maxNewValidators bounds vhsm eth new --count.
const maxNewValidators = 1000

// newKeyWorkers is how many key generations vhsm eth new runs at once (each
// is an ordered request; several share a block).
const newKeyWorkers = 8

func (c *cli) ethNewCmd() *cobra.Command {
	var (
		net             ethNetFlags
		address, prefix string
		compounding     bool
		count           int
		amount, outDir  string
	)
	cmd := &cobra.Command{
		Use:   "new --count N --withdrawal-address 0x… --network NET [--prefix P] [--compounding] [--amount-gwei N] [--out DIR]",
		Short: "Create N validator keys and one deposit_data file for all of them",
		Long: `Create N validator keys <prefix>-1 … <prefix>-N in the HSM — bls keys marked as validator keys
from their creation, so they sign typed requests only and their blocks and attestations go through
the replicated slashing protection — and write the deposits of all of them, verified, to one
deposit_data-<time>.json (the official deposit CLI's format). An existing key id is an error
(nothing is overwritten; keys created before it stay).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := net.network()
			if err != nil {
				return err
			}
			if count < 1 || count > maxNewValidators {
				return fmt.Errorf("%w: --count must be 1 to %d", errETHInput, maxNewValidators)
			}
			if address == "" {
				return fmt.Errorf("%w: --withdrawal-address is required", errETHInput)
			}
			addr, err := ethereum.ParseExecutionAddress(address)
			if err != nil {
				return fmt.Errorf("%w: --withdrawal-address: %w", errETHInput, err)
			}
			creds := ethereum.ExecutionCredentials(addr)
			if compounding {
				creds = ethereum.CompoundingCredentials(addr)
			}
			gwei := uint64(32 * ethereum.GweiPerETH)
			if amount != "" {
				if gwei, err = uintFlag("amount-gwei", amount); err != nil {
					return err
				}
			}
			if err := ethereum.CheckAmount(creds, gwei); err != nil {
				return fmt.Errorf("%w: %v", errETHInput, err)
			}
			ids := make([]string, count)
			for i := range ids {
				ids[i] = prefix + "-" + strconv.Itoa(i+1)
				if !validKeyID(ids[i]) {
					return fmt.Errorf("%w: key id %q: --prefix must be letters, digits, . _ - (ids up to 64 characters)", errETHInput, ids[i])
				}
			}
			return c.withClient(func(cl *client.Client) error {
				ctx := cmd.Context()
				errs := make([]error, count)
				work := make(chan int)
				var wg sync.WaitGroup
				for range min(newKeyWorkers, count) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range work {
							_, errs[i] = cl.GenerateValidatorKey(ctx, ids[i])
						}
					}()
				}
				for i := range ids {
					work <- i
				}
				close(work)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						return fmt.Errorf("create validator key %s: %w", ids[i], err)
					}
				}
				out, err := writeDeposits(ctx, cl, nw, ids, creds, gwei, outDir)
				if err != nil {
					return err
				}
				return c.emit(out, out.File)
			})
		},
	}
	net.register(cmd)
	cmd.Flags().IntVar(&count, "count", 1, "how many validators to create (1 to 1000)")
	cmd.Flags().StringVar(&prefix, "prefix", "val", "key ids are <prefix>-1 … <prefix>-N")
	cmd.Flags().StringVar(&address, "withdrawal-address", "", "execution address for 0x01 (or with --compounding 0x02) withdrawal credentials")
	cmd.Flags().BoolVar(&compounding, "compounding", false, "0x02 compounding credentials (EIP-7251)")
	cmd.Flags().StringVar(&amount, "amount-gwei", "", "deposit amount in Gwei (default 32 ETH)")
	cmd.Flags().StringVar(&outDir, "out", "", "directory for the deposit file (default: the current directory)")
	return cmd
}
