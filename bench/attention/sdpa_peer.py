#!/usr/bin/env python3
"""Peer timings for the attention bench, measured with PyTorch on the same GPU.

Times torch.nn.functional.scaled_dot_product_attention (causal, bf16, 32 query
heads, 4 KV heads, head dim 128, batch 1) with the flash and the cuDNN backends,
a dense decode step (one query over the whole cache), the GPU's bf16 matmul rate
(torch.matmul 8192^3 on random data) and device-to-device copy bandwidth.
Writes JSON (--json) and prints one line per figure.

    python3 sdpa_peer.py --json sdpa.json [--lengths 8192,32768,...]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HEADS, KV_HEADS, DIM = 32, 4, 128


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def matmul_tflops():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: torch.matmul(a, b), 3, 10)
    return 2 * 8192**3 / (ms * 1e-3) / 1e12


def copy_gbps():
    n = 1 << 30  # 2 GiB of bf16
    src = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), 2, 10)
    return 2 * src.numel() * 2 / (ms * 1e-3) / 1e9  # bytes read + written


def causal_flops(n):
    return 4.0 * n * n / 2 * DIM * HEADS


def sdpa_prefill(n, backend):
    """Returns (ms, how GQA was run) or raises if the backend refuses."""
    g = torch.Generator(device="cuda").manual_seed(n)
    q = torch.randn(1, HEADS, n, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, KV_HEADS, n, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, KV_HEADS, n, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    est_ms = causal_flops(n) / 400e12 * 1e3
    reps = 2 if est_ms > 500 else 3 if est_ms > 100 else 10
    with sdpa_kernel([backend]):
        try:
            fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            fn()
            mode = "enable_gqa"
        except RuntimeError:
            # The backend wants as many K/V heads as query heads: expand outside the timing.
            k2 = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
            v2 = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
            fn = lambda: F.scaled_dot_product_attention(q, k2, v2, is_causal=True)
            fn()
            mode = "expanded_kv"
        ms = median_ms(fn, 1, reps)
    return ms, mode


def sdpa_decode(n, backend):
    g = torch.Generator(device="cuda").manual_seed(7)
    q = torch.randn(1, HEADS, 1, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, KV_HEADS, n, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, KV_HEADS, n, DIM, device="cuda", dtype=torch.bfloat16, generator=g)
    with sdpa_kernel([backend]):
        fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        fn()
        return median_ms(fn, 3, 20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--lengths", default="8192,32768,65536,131072,262144")
    ap.add_argument("--budget-s", type=float, default=150.0, help="stop adding lengths after this much time")
    args = ap.parse_args()
    start = time.time()
    out = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "device": torch.cuda.get_device_name(0),
        "matmul_bf16_tflops": matmul_tflops(),
        "copy_gbps": copy_gbps(),
        "sdpa": [],
        "decode": [],
    }
    print(f"torch {out['torch']} on {out['device']}: bf16 matmul 8192^3 {out['matmul_bf16_tflops']:.0f} TFLOP/s, "
          f"D2D copy {out['copy_gbps']:.0f} GB/s", flush=True)
    backends = [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)]
    for n in [int(x) for x in args.lengths.split(",")]:
        for name, backend in backends:
            if time.time() - start > args.budget_s:
                print(f"sdpa {name} n={n}: skipped (time budget)", flush=True)
                continue
            try:
                ms, mode = sdpa_prefill(n, backend)
            except Exception as e:  # a backend may refuse a size or be missing
                print(f"sdpa {name} n={n}: unavailable ({type(e).__name__}: {str(e)[:120]})", flush=True)
                continue
            finally:
                torch.cuda.empty_cache()
            tf = causal_flops(n) / (ms * 1e-3) / 1e12
            out["sdpa"].append({"backend": name, "n": n, "ms": ms, "tflops": tf, "gqa": mode})
            print(f"sdpa {name:5s} n={n:<8d} {ms:10.3f} ms {tf:6.1f} TFLOP/s ({mode})", flush=True)
    for name, backend in backends:
        try:
            ms = sdpa_decode(131072, backend)
        except Exception as e:
            print(f"sdpa decode {name}: unavailable ({type(e).__name__})", flush=True)
            continue
        gbps = 131072 * KV_HEADS * DIM * 2 * 2 / (ms * 1e-3) / 1e9
        out["decode"].append({"backend": name, "n": 131072, "ms": ms, "gbps": gbps})
        print(f"sdpa decode {name} n=131072 {ms * 1e3:8.1f} us {gbps:6.0f} GB/s", flush=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
