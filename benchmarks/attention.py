"""Attention benchmarks: course_lib against torch, measured side by side in one process.

    python benchmarks/attention.py           # both tables (a few minutes on 2 cores)
    python benchmarks/attention.py --quick   # smaller sizes, a smoke run

1. Speed. Forward + backward of ``course_lib.attention.MultiHeadAttention`` against
   ``torch.nn.MultiheadAttention`` with the same weights, batch-first self-attention, float32.
   Both are timed with ``need_weights=True`` (the (B, H, T, T) weights are built and returned:
   the path the chapters and widgets use) and ``need_weights=False`` (both may call the fused
   kernel). The two models alternate inside every repeat, and the table shows the best of
   the repeats and the ratio ours / torch (aim: <= 1.5).

2. Peak memory. Plain attention (the full (T, T) score matrix) against ``chunked_attention``
   (online softmax over key chunks), with torch's fused ``scaled_dot_product_attention`` for
   reference, at T = 1k, 2k, 4k, 8k under ``torch.no_grad()``.
   Method: ``course_lib.profiling.peak_memory`` resets the kernel's resident-memory high-water
   mark (``/proc/self/clear_refs``), runs the call and reads ``VmHWM`` back; glibc is told to
   return every block of 128 KiB or more to the system at once, and torch's CPU allocator
   does not cache, so the difference is what the call really held at its peak. The analytic
   size of the biggest intermediate is printed next to it: (T, T) scores for plain attention,
   (T, chunk) for the chunked one. Linux only.
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_lib.attention import MultiHeadAttention, chunked_attention, scaled_dot_product_attention  # noqa: E402
from course_lib.profiling import peak_memory  # noqa: E402


def time_mha(B: int, T: int, d_model: int, n_heads: int, need_weights: bool, repeat: int) -> tuple[float, float]:
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    ours = MultiHeadAttention(d_model, n_heads).load_torch_weights(ref)
    x = torch.randn(B, T, d_model, requires_grad=True)

    def run_ours():
        out, _ = ours(x, need_weights=need_weights)
        out.sum().backward()

    def run_torch():
        out, _ = ref(x, x, x, need_weights=need_weights, average_attn_weights=False)
        out.sum().backward()

    run_ours(), run_torch()                                  # warm-up
    n = max(1, int(0.2 / max(timeit.timeit(run_torch, number=1), 1e-4)))
    best_ours, best_torch = float("inf"), float("inf")
    for _ in range(repeat):                                  # interleaved: both see the same machine load
        best_ours = min(best_ours, timeit.timeit(run_ours, number=n) / n)
        best_torch = min(best_torch, timeit.timeit(run_torch, number=n) / n)
    return best_ours, best_torch


def speed_table(quick: bool) -> list[float]:
    sizes = [(8, 64, 128, 4), (8, 128, 256, 8)] if quick else \
        [(16, 64, 128, 4), (8, 256, 256, 8), (4, 512, 512, 8), (2, 1024, 256, 4)]
    print("MultiHeadAttention forward+backward, float32, best of repeats (ms); ratio = ours / torch")
    print(f"{'B':>3} {'T':>5} {'d_model':>7} {'H':>2} {'weights':>8} {'ours':>9} {'torch':>9} {'ratio':>6}")
    ratios = []
    for B, T, d, H in sizes:
        for need in (True, False):
            ours, ref = time_mha(B, T, d, H, need, repeat=3 if quick else 7)
            ratios.append(ours / ref)
            print(f"{B:>3} {T:>5} {d:>7} {H:>2} {str(need):>8} {ours * 1e3:>9.2f} {ref * 1e3:>9.2f} {ours / ref:>6.2f}")
    return ratios


def memory_table(quick: bool, chunk_size: int = 256, heads: int = 2, d: int = 64) -> None:
    lengths = [512, 1024, 2048] if quick else [1024, 2048, 4096, 8192]
    print(f"\nPeak extra resident memory (MiB), B=1, H={heads}, d_k={d}, float32, no_grad, chunk_size={chunk_size}")
    print(f"{'T':>5} {'plain':>9} {'(T,T) scores':>13} {'chunked':>9} {'(T,chunk)':>10} {'torch fused':>12}"
          f" {'plain/chunked':>14}")
    rows = []
    warm = torch.randn(1, heads, 256, d)                      # first calls start thread pools: not our memory
    with torch.no_grad():
        peak_memory(lambda: scaled_dot_product_attention(warm, warm, warm)[0])
        peak_memory(lambda: chunked_attention(warm, warm, warm, chunk_size=chunk_size))
        peak_memory(lambda: torch.nn.functional.scaled_dot_product_attention(warm, warm, warm))
    for T in lengths:
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(1, heads, T, d, generator=g) for _ in range(3))
        with torch.no_grad():
            plain = peak_memory(lambda: scaled_dot_product_attention(q, k, v)[0])
            chunked = peak_memory(lambda: chunked_attention(q, k, v, chunk_size=chunk_size))
            fused = peak_memory(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
        scores_mib = heads * T * T * 4 / 2**20
        block_mib = heads * T * chunk_size * 4 / 2**20
        rows.append((T, plain, chunked))
        mib = 2.0**20
        print(f"{T:>5} {plain / mib:>9.1f} {scores_mib:>13.1f} {chunked / mib:>9.1f} {block_mib:>10.1f} "
              f"{fused / mib:>12.1f} {plain / chunked:>14.1f}")
    (T0, p0, c0), (T1, p1, c1) = rows[0], rows[-1]
    print(f"\nFrom T={T0} to T={T1} ({T1 // T0}x longer): plain grew {p1 / max(p0, 1):.1f}x "
          f"(quadratic would be {(T1 / T0) ** 2:.0f}x), chunked grew {c1 / max(c0, 1):.1f}x (linear would be {T1 / T0:.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    ratios = speed_table(args.quick)
    print(f"worst ratio {max(ratios):.2f}, geometric mean "
          f"{torch.tensor(ratios).log().mean().exp().item():.2f}")
    if sys.platform.startswith("linux"):
        memory_table(args.quick)
    else:
        print("\n(peak-memory table skipped: it reads /proc and needs Linux)")


if __name__ == "__main__":
    main()
