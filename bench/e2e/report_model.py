#!/usr/bin/env python3
"""Model-level table of the GPU check: CUDA backend correctness (from
cuda_backend_check --json) and end-to-end figures (from e2e_bench --json), each
against its goal. Writes the combined JSON (--out) and prints the table.

    python3 report_model.py --check check.json --e2e e2e.json --out model.json [--command CMD]
"""
import argparse
import json
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"  (no data from {path}: {e})")
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", required=True)
    ap.add_argument("--e2e", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    check, e2e = load(a.check), load(a.e2e)
    ok = True
    print("\n== model level: CUDA backend vs CPU backend")
    if check:
        rows = check["checks"]
        failed = [r for r in rows if not r["pass"]]
        ok = ok and not failed
        groups = {}
        for r in rows:
            key = r["check"].split(" (")[0]
            g = groups.setdefault(key, [0, 0.0, 0.0, True])
            g[0] += 1
            g[1] = max(g[1], r["rel_error"] if r["rel_error"] >= 0 else float("inf"))
            g[2] = r["limit"] if not g[2] else max(g[2], r["limit"])
            g[3] = g[3] and r["pass"]
        print(f"  {'check':<42} {'cases':>5} {'max rel.err':>12} {'limit':>8}  result")
        for k, (n, err, lim, p) in groups.items():
            print(f"  {k:<42} {n:>5} {err:>12.2e} {lim:>8.0e}  {'met' if p else 'FAILED'}")
        for r in failed:
            print(f"  FAILED: {r['check']} {r['shape']}: {r['rel_error']:.2e} {r['note']}")
    if e2e:
        peak, bw = e2e["gemm_peak_tflops"], e2e["copy_gbps"]
        print(f"\n== end to end, Qwen3-30B-A3B shape, {e2e['layers']} of 48 layers, chunk {e2e['chunk']}, "
              f"weights {e2e['weights_gib']:.1f} GiB, KV {e2e['kv_cache_gib']:.1f} GiB "
              f"(cuBLAS peak {peak:.0f} TFLOP/s, copy {bw:.0f} GB/s)")
        print(f"  {'mode':<7} {'prompt':>8} {'prefill tok/s':>14} {'decode tok/s':>13} {'GPU GiB':>8} "
              f"{'decode GB/s':>12} {'% of copy bw':>13}")
        by = {}
        for r in e2e["runs"]:
            by[(r["mode"], r["prompt_tokens"])] = r
            print(f"  {r['mode']:<7} {r['prompt_tokens']:>8} {r['prefill_tokens_per_s_48_layers']:>14.0f} "
                  f"{r['decode_tokens_per_s_48_layers']:>13.1f} {r['gpu_memory_used_gib']:>8.1f} "
                  f"{r.get('decode_gbps', 0):>12.0f} {100 * r.get('decode_gbps', 0) / bw:>12.0f}%")
        for (mode, p), r in sorted(by.items()):
            if mode == "sparse" and ("dense", p) in by:
                d = by[("dense", p)]
                print(f"  sparse / dense at {p}: prefill x{r['prefill_tokens_per_s']/d['prefill_tokens_per_s']:.2f}, "
                      f"decode x{r['decode_tokens_per_s']/d['decode_tokens_per_s']:.2f}")
        for pr in e2e["profiles"]:
            print(f"\n  profile {pr['mode']} {pr['kind']} ({pr['queries']} queries at {pr['pos0']}): "
                  f"{pr['layer_ms']:.3f} ms/layer")
            for op in pr["ops"]:
                ms = op["ms"]
                if pr["kind"] == "prefill_chunk" and op["flops"] > 0:
                    t = op["flops"] / (ms * 1e-3) / 1e12
                    goal = "" if op["op"] == "attention" else ("  (goal >= 30%: met)" if t >= 0.3 * peak
                                                               else "  (goal >= 30%: NOT met)")
                    print(f"    {op['op']:<10} {ms:9.3f} ms {t:7.1f} TFLOP/s {100*t/peak:5.1f}% of peak{goal}")
                elif pr["kind"] == "decode" and op["bytes"] > 0:
                    g = op["bytes"] / (ms * 1e-3) / 1e9
                    goal = "  (goal >= 70%: met)" if g >= 0.7 * bw else "  (goal >= 70%: NOT met)"
                    print(f"    {op['op']:<10} {ms:9.4f} ms {g:7.0f} GB/s {100*g/bw:5.1f}% of copy bw{goal}")
                else:
                    print(f"    {op['op']:<10} {ms:9.4f} ms")
    with open(a.out, "w") as f:
        json.dump({"command": a.command, "check": check, "e2e": e2e}, f, indent=1)
    return 0 if ok and check and e2e else 1


if __name__ == "__main__":
    sys.exit(main())
