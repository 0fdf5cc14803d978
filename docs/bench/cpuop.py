#!/usr/bin/env python3
"""cpuop.py N REGEX BIN1 [BIN2 ...]: CPU time (user+sys) per op of a Go benchmark,
from test binaries, robust to a loaded machine: (cpu(N iters) - cpu(1 iter)) / (N-1),
runs interleaved across binaries, 3 rounds, min reported."""
import os, resource, subprocess, sys
n = int(sys.argv[1]); rx = sys.argv[2]; bins = [os.path.abspath(x) for x in sys.argv[3:]]
def cpu(b, iters):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([b, '-test.run', '^$', '-test.bench', rx, '-test.benchtime', f'{iters}x', '-test.cpu', '1'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, GOMAXPROCS='1'))
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        print(p.stdout.decode()[-2000:]); sys.exit(1)
    if b'no tests to run' in p.stdout or b'Benchmark' not in p.stdout:
        print('no benchmark matched in', b); sys.exit(1)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
best = {b: [] for b in bins}
for _ in range(3):
    for b in bins:
        best[b].append((cpu(b, n) - cpu(b, 1)) / (n - 1))
base = None
for b in bins:
    v = min(best[b])
    if base is None: base = v
    print(f'{rx:40s} {os.path.basename(b):24s} {v*1e6:10.1f} us CPU/op  (runs {", ".join(f"{x*1e6:.0f}" for x in best[b])})  ratio {v/base:.2f}')
