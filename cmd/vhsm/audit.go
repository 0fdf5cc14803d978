package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vhsm/vhsm/replica/client"
)

// auditJSON is the JSON shape of vhsm audit.
type auditJSON struct {
	OK       bool               `json:"ok"`
	Requests []auditRequestJSON `json:"requests"`
	Replicas []auditReplicaJSON `json:"replicas"`
}

type auditRequestJSON struct {
	Time     string `json:"time"` // RFC 3339, UTC
	Request  string `json:"request"`
	Client   string `json:"client"`
	KeyID    string `json:"key_id,omitempty"`
	Op       string `json:"op"`
	Message  string `json:"message,omitempty"`
	Replicas []int  `json:"replicas"`
}

// auditReplicaJSON is one replica's verdict: status "ok", "failed" or
// "unavailable" (its chain or committed heads could not be read).
type auditReplicaJSON struct {
	Replica     int                `json:"replica"`
	Status      string             `json:"status"`
	Error       string             `json:"error,omitempty"`
	Records     int                `json:"records"`
	Last        uint64             `json:"last"`
	Committed   uint64             `json:"committed"`
	Uncommitted int                `json:"uncommitted"`
	Failures    []auditFailureJSON `json:"failures,omitempty"`
}

type auditFailureJSON struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func toAuditJSON(rep *client.AuditReport) auditJSON {
	out := auditJSON{OK: rep.OK(), Requests: []auditRequestJSON{}, Replicas: []auditReplicaJSON{}}
	for _, r := range rep.Requests {
		out.Requests = append(out.Requests, auditRequestJSON{
			Time: r.Time.UTC().Format(time.RFC3339Nano), Request: hex.EncodeToString(r.Request),
			Client: r.Client, KeyID: r.KeyID, Op: r.Op, Message: hex.EncodeToString(r.Message), Replicas: r.Replicas,
		})
	}
	for _, r := range rep.Replicas {
		rj := auditReplicaJSON{Replica: r.Replica, Status: "ok", Error: r.Error, Records: r.Records, Last: r.Last, Committed: r.Committed, Uncommitted: r.Uncommitted}
		switch {
		case r.Error != "":
			rj.Status = "unavailable"
		case r.Failed():
			rj.Status = "failed"
		}
		for _, f := range r.Failures {
			rj.Failures = append(rj.Failures, auditFailureJSON{Seq: f.Seq, Reason: f.Reason})
		}
		out.Replicas = append(out.Replicas, rj)
	}
	return out
}

// human renders the listing, then one verdict line per replica.
func (a auditJSON) human() string {
	var b strings.Builder
	if len(a.Requests) == 0 {
		b.WriteString("no requests\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tOP\tCLIENT\tKEY\tREPLICAS\tREQUEST")
		for _, r := range a.Requests {
			reps := make([]string, len(r.Replicas))
			for i, x := range r.Replicas {
				reps[i] = strconv.Itoa(x)
			}
			key := r.KeyID
			if key == "" {
				key = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time, r.Op, r.Client, key, strings.Join(reps, ","), r.Request[:16])
		}
		tw.Flush()
	}
	for _, r := range a.Replicas {
		switch r.Status {
		case "unavailable":
			fmt.Fprintf(&b, "replica %d: unavailable: %s\n", r.Replica, r.Error)
			continue
		case "failed":
			fmt.Fprintf(&b, "replica %d: FAILED: ", r.Replica)
		default:
			fmt.Fprintf(&b, "replica %d: ok: ", r.Replica)
		}
		fmt.Fprintf(&b, "%d records, committed through seq %d, %d uncommitted\n", r.Records, r.Committed, r.Uncommitted)
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  seq %d: %s\n", f.Seq, f.Reason)
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// parseSince reads --since: an RFC 3339 time, or a duration before now
// ("90m", "24h").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time nor a duration such as 24h", s)
}

func (c *cli) auditCmd() *cobra.Command {
	var keyID, since string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the requests the replicas served and verify every replica's audit chain (admin)",
		Long: `List the requests the replicas served, merged by request hash (which replicas
served each), and verify every replica's audit chain against the heads committed
through the log. A chain fails when a record covered by a committed head is
missing, altered, reordered or inserted, or disagrees with other replicas'
records of the same request; records after the last committed head are counted
as uncommitted. The exit status is non-zero when any chain fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.AuditOptions{KeyID: keyID}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				opts.Since = t
			}
			return c.withClient(func(cl *client.Client) error {
				rep, err := cl.Audit(cmd.Context(), opts)
				if err != nil {
					return err
				}
				out := toAuditJSON(rep)
				if err := c.emit(out, out.human()); err != nil {
					return err
				}
				if !out.OK {
					var failed []int
					for _, r := range out.Replicas {
						if r.Status == "failed" {
							failed = append(failed, r.Replica)
						}
					}
					return fmt.Errorf("audit: the chains of replicas %v fail verification", failed)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&keyID, "key", "", "list only requests naming this key")
	cmd.Flags().StringVar(&since, "since", "", "list only requests served since this time (RFC 3339, or a duration ago such as 24h)")
	return cmd
}
