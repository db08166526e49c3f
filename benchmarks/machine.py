"""What the benchmarks measure of the machine itself: the fp32 matmul rate that wall times are quoted with.

The same 2 cores have measured 63 and 190 GFLOP/s in different sessions, so every benchmark reports
its times beside this rate, measured in the same run. Imported by the scripts in this folder
(``python benchmarks/x.py`` puts the folder on ``sys.path``).
"""

from __future__ import annotations

import time


def matmul_peak_gflops(threads: int) -> float:
    """Best float32 matmul rate of this machine at ``threads`` (torch, 1024 x 1024), GFLOP/s."""
    import torch  # here, not at the top: the benchmarks' --help and argument checks stay fast

    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(20):
        started = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        best = max(best, 5 * 2 * 1024**3 / (time.perf_counter() - started) / 1e9)
    return best
