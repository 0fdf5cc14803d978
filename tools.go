//go:build tools

// Package vhsm pins module dependencies that are used by packages under
// construction, so that `go mod tidy` keeps them. It is never built.
package vhsm

import (
	_ "github.com/btcsuite/btcd/btcec/v2/schnorr"
	_ "github.com/btcsuite/btcd/btcutil/psbt"
	_ "github.com/btcsuite/btcd/rpcclient"
	_ "github.com/chromedp/chromedp"
	_ "github.com/cometbft/cometbft/abci/types"
	_ "github.com/cometbft/cometbft/node"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/herumi/bls-eth-go-binary/bls"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/miekg/pkcs11"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/skip2/go-qrcode"
	_ "github.com/spf13/cobra"
	_ "github.com/supranational/blst/bindings/go"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/crypto/hkdf"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
