package api

import (
	"fmt"
	"net/http"
)

// NewStarting returns the handler a wallet service serves while it starts,
// before [New] can be called (the wallet service waits for the HSM quorum
// to open): GET /healthz answers 200 as usual, GET /readyz answers 503 with
// the not-ready problem of the API (type unavailable, Retry-After, the
// readiness fields, each replica reduced to its index and readiness: no
// token can be checked yet), and every other request 503 problem
// "unavailable" with Retry-After.
func NewStarting(hsm HSM) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		switch {
		case r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case r.URL.Path == "/readyz" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			ctx, cancel := contextWithTimeout(r, readyzTimeout)
			defer cancel()
			_, t := hsm.Threshold()
			sts := hsm.Status(ctx)
			type replica struct {
				Replica int  `json:"replica"`
				Ready   bool `json:"ready"`
			}
			replicas := make([]replica, len(sts))
			ready := 0
			for i, st := range sts {
				replicas[i] = replica{st.Replica, st.Ready}
				if st.Ready {
					ready++
				}
			}
			p := newProblem(ProblemUnavailable, fmt.Sprintf("the wallet service is starting: %d of %d HSM replicas ready, %d needed", ready, len(sts), t+1))
			writeProblem(w, r, p, map[string]any{"ready": false, "needed": t + 1, "ready_replicas": ready, "replicas": replicas})
		default:
			writeProblem(w, r, newProblem(ProblemUnavailable, "the wallet service is starting (waiting for the HSM quorum); retry later"), nil)
		}
	})
}
