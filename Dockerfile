# vhsm container images. Every image is `scratch` plus static binaries, so
# the default build pulls no image at all. Build the binaries first (on a
# Linux amd64/arm64 host with Go 1.26.8 and gcc; herumi and blst link
# statically, with -lm only):
#
#   mkdir -p dist
#   CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,nosofthsm \
#     -ldflags '-linkmode external -extldflags "-static"' -o dist/vhsm ./cmd/vhsm
#   cp /etc/ssl/certs/ca-certificates.crt dist/    # for https backends (Esplora)
#   # only for the btc-regtest profile of docker-compose.yml:
#   CGO_ENABLED=0 GOBIN="$PWD/dist" go install github.com/btcsuite/btcd@v0.24.2 \
#     github.com/btcsuite/btcd/cmd/btcctl@v0.24.2
#
# then `docker compose up` (see README, "Docker / multi-machine").
#
# Tags: netgo and osusergo select Go's own DNS resolver and user lookup (a
# static glibc cannot load NSS modules, and the replicas find each other by
# host name); nosofthsm leaves out the PKCS#11 bench peer (vhsm bench
# --peer softhsm), which needs dlopen and a SoftHSM2 library the image does
# not have.
#
# Targets:
#   vhsm (default)  scratch + dist/vhsm + CA bundle
#   btcd            scratch + dist/btcd, dist/btcctl (btc-regtest profile)
#   from-source     multi-stage: builds vhsm inside golang:1.26.8-bookworm
#                   (pulls that image; docker build --target from-source .)

# --- multi-stage variant: compile inside the official Go image -----------
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN mkdir -p /out && CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,nosofthsm \
      -ldflags '-linkmode external -extldflags "-static"' -o /out/vhsm ./cmd/vhsm \
 && cp /etc/ssl/certs/ca-certificates.crt /out/

FROM scratch AS from-source
COPY --from=build /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/vhsm /vhsm
ENV TMPDIR=/tmp
ENTRYPOINT ["/vhsm"]
CMD ["--help"]

# --- btcd regtest node (pure Go, static) ---------------------------------
FROM scratch AS btcd
COPY dist/btcd /btcd
COPY dist/btcctl /btcctl
EXPOSE 18444
ENTRYPOINT ["/btcd"]

# --- default: the prebuilt static binary on scratch ----------------------
FROM scratch AS vhsm
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/vhsm /vhsm
ENV TMPDIR=/tmp
# 26656 CometBFT p2p, 8443 replica HTTPS API, 8080 wallet (plain HTTP).
EXPOSE 26656 8443 8080
ENTRYPOINT ["/vhsm"]
CMD ["--help"]
