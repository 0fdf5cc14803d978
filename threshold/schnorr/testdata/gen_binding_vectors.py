#!/usr/bin/env python3
"""Independent reference for the nonce-pair binding of threshold/schnorr.

Writes binding-vectors.json: for fixed secrets x (key), d, e (nonce pair) and
a Taproot option and message, the x-only output key Q, D = d*G, E = e*G, the
binding factor rho, R = D + rho*E and k = d + rho*e. Pure Python integer
arithmetic, written from BIP-340/BIP-341 and the package documentation,
sharing no code with the Go implementation.

Usage: python3 gen_binding_vectors.py > binding-vectors.json
"""
import hashlib
import json

p = 2**256 - 2**32 - 977
n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)


def add(P1, P2):
    if P1 is None:
        return P2
    if P2 is None:
        return P1
    if P1[0] == P2[0] and P1[1] != P2[1]:
        return None
    if P1 == P2:
        lam = (3 * P1[0] * P1[0] * pow(2 * P1[1], p - 2, p)) % p
    else:
        lam = ((P2[1] - P1[1]) * pow(P2[0] - P1[0], p - 2, p)) % p
    x3 = (lam * lam - P1[0] - P2[0]) % p
    return (x3, (lam * (P1[0] - x3) - P1[1]) % p)


def mul(P, k):
    R = None
    for i in range(256):
        if (k >> i) & 1:
            R = add(R, P)
        P = add(P, P)
    return R


def xonly(P):
    return P[0].to_bytes(32, "big")


def cbytes(P):
    return bytes([2 + (P[1] & 1)]) + P[0].to_bytes(32, "big")


def tagged(tag, msg):
    th = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(th + th + msg).digest()


def output_key(x, mode, root):
    P = mul(G, x)
    if mode == 0:  # TaprootNone: Q = lift_x(x(P))
        return xonly(P)
    Peven = P if P[1] % 2 == 0 else (P[0], p - P[1])
    t = int.from_bytes(tagged("TapTweak", xonly(P) + (root if mode == 2 else b"")), "big")
    assert t < n
    return xonly(add(Peven, mul(G, t)))


def enc(b):
    return len(b).to_bytes(8, "big") + b


def vector(name, x, d, e, mode, root, msg):
    Q = output_key(x, mode, root)
    D, E = mul(G, d), mul(G, e)
    opt = bytes([mode]) + (root if mode == 2 else b"")
    rho = int.from_bytes(tagged("VHSM/schnorr/binding",
                                enc(Q) + enc(cbytes(D)) + enc(cbytes(E)) + enc(opt) + enc(msg)), "big") % n
    R = add(D, mul(E, rho))
    return {
        "name": name,
        "key_secret": "%064x" % x,
        "d": "%064x" % d,
        "e": "%064x" % e,
        "taproot_mode": mode,
        "merkle_root": root.hex(),
        "msg": msg.hex(),
        "output_key": Q.hex(),
        "D": cbytes(D).hex(),
        "E": cbytes(E).hex(),
        "rho": "%064x" % rho,
        "R": cbytes(R).hex(),
        "k": "%064x" % ((d + rho * e) % n),
    }


def h(s):
    return int.from_bytes(hashlib.sha256(s.encode()).digest(), "big") % n


# Self-checks against known points: 2G (SEC 2) and (n-1)G = -G.
assert mul(G, 2)[0] == 0xC6047F9441ED7D6D3045406E95C07CD85C778E4B8CEF3CA7ABAC09B95C709EE5
assert mul(G, n - 1) == (G[0], p - G[1])

root = hashlib.sha256(b"script tree").digest()
vectors = [
    vector("none, empty message", h("x1"), h("d1"), h("e1"), 0, bytes(32), b""),
    vector("none, 32-byte message", h("x1"), h("d1"), h("e1"), 0, bytes(32), hashlib.sha256(b"sighash").digest()),
    vector("bip86", h("x1"), h("d1"), h("e1"), 1, bytes(32), b"vhsm"),
    vector("script", h("x1"), h("d1"), h("e1"), 2, root, b"vhsm"),
    vector("none, ignored root", h("x2"), h("d2"), h("e2"), 0, root, b"long message " * 20),
    vector("bip86, ignored root", h("x3"), h("d3"), h("e3"), 1, root, b"\x00"),
]
print(json.dumps({"source": "testdata/gen_binding_vectors.py (independent Python reference)",
                  "vectors": vectors}, indent=1))
