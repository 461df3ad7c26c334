#!/usr/bin/env python3
"""Joins attention_bench's JSON and sdpa_peer.py's JSON into one result file and
prints the table of every figure against its goal (issue 3, "Speed").

    python3 report.py --kernels k.json --peer sdpa.json --out gpu-DATE.json --command "..."
"""
import argparse
import json


def best_by(rows, key, pick=max):
    return pick(rows, key=key) if rows else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", default="")
    args = ap.parse_args()
    k = json.load(open(args.kernels))
    try:
        peer = json.load(open(args.peer))
    except (OSError, ValueError):
        peer = {"sdpa": [], "decode": [], "matmul_bf16_tflops": None, "copy_gbps": None}

    lines, goals = [], []

    def goal(name, value, target, met, note=""):
        goals.append({"figure": name, "value": value, "goal": target, "met": met, "note": note})

    checks = k.get("checks", [])
    failed = [c["name"] for c in checks if not c["pass"]]
    worst = max((c["rel_err"] for c in checks), default=0.0)
    goal("correctness checks", f"{len(checks) - len(failed)}/{len(checks)} pass, worst rel err {worst:.2e}",
         "all < 1e-2", bool(checks) and not failed, ", ".join(failed))

    peak = peer.get("matmul_bf16_tflops")
    copy = peer.get("copy_gbps") or k.get("copy_gbps")
    sdpa = peer.get("sdpa", [])

    def sdpa_best(n):
        rows = [r for r in sdpa if r["n"] == n]
        return best_by(rows, lambda r: r["tflops"])

    timings = k.get("timings", [])
    for n in (8192, 32768, 131072):
        ours = best_by([t for t in timings if t["kind"] == "dense_prefill" and t["n"] == n], lambda t: t["tflops"])
        ref = sdpa_best(n)
        if not ours:
            continue
        if ref:
            ratio = ours["tflops"] / ref["tflops"]
            others = [r for r in sdpa if r["n"] == n and r["backend"] != ref["backend"]]
            note = "; ".join(f"vs SDPA {r['backend']} {r['tflops']:.0f} = {ours['tflops'] / r['tflops']:.2f}x"
                             for r in others)
            goal(f"dense prefill {n // 1024}K", f"{ours['tflops']:.0f} TFLOP/s ({ours.get('kernel', '')}) vs SDPA "
                 f"{ref['backend']} {ref['tflops']:.0f} = {ratio:.2f}x", ">= 0.8x SDPA", ratio >= 0.8, note)
        if peak:
            frac = ours["tflops"] / peak
            goal(f"dense prefill {n // 1024}K vs matmul peak", f"{100 * frac:.0f}% of {peak:.0f} TFLOP/s",
                 ">= 70% of peak", frac >= 0.7)

    # Dense SDPA time at n: measured, or extrapolated as n^2 from the longest measured length.
    def sdpa_ms(n):
        r = sdpa_best(n)
        if r:
            return r["ms"], r["backend"], False
        rows = [r for r in sdpa if r["n"] < n]
        if not rows:
            return None, None, False
        m = max(r["n"] for r in rows)
        r = sdpa_best(m)
        return r["ms"] * (n / m) ** 2, r["backend"], True

    sparse = {}
    for t in timings:
        if t["kind"] == "sparse_prefill":
            total = t["ms"] + t["plan_ms"]
            if t["n"] not in sparse or total < sparse[t["n"]]["ms"] + sparse[t["n"]]["plan_ms"]:
                sparse[t["n"]] = t
    for n in sorted(sparse):
        t = sparse[n]
        total = t["ms"] + t["plan_ms"]
        ref_ms, backend, extrap = sdpa_ms(n)
        plan_share = t["plan_ms"] / t["ms"]
        if ref_ms:
            speed = ref_ms / total
            dense = best_by([d for d in timings if d["kind"] == "dense_prefill" and d["n"] == n], lambda d: d["tflops"])
            eff = (f"kernel {t['tflops']:.0f} TFLOP/s on the listed blocks ({t.get('kernel', '')})"
                   + (f" vs dense {dense['tflops']:.0f}" if dense else ""))
            goal(f"sparse prefill {n // 1024}K", f"{total:.1f} ms (plan {t['plan_ms']:.2f} + attn {t['ms']:.1f}), "
                 f"{t['attended_tokens']:.0f} keys/q; dense SDPA {backend} {ref_ms:.0f} ms"
                 f"{' (n^2 extrapolated)' if extrap else ''} = {speed:.1f}x",
                 ">= 15x at 128K" if n == 131072 else "report", speed >= 15 if n == 131072 else None, eff)
        goal(f"sparse plan cost {n // 1024}K", f"{100 * plan_share:.1f}% of the attention it drives",
             "well under 10%", plan_share < 0.10)

    dd = [t for t in timings if t["kind"] == "dense_decode"]
    sd = [t for t in timings if t["kind"] == "sparse_decode"]
    sa = [t for t in timings if t["kind"] == "sparse_decode_attention_only"]
    if dd:
        d = dd[0]
        if copy:
            goal("dense decode 128K bandwidth", f"{d['ms'] * 1e3:.1f} us, {d['gbps']:.0f} GB/s = "
                 f"{100 * d['gbps'] / copy:.0f}% of measured copy {copy:.0f} GB/s", ">= 80% of HBM", d["gbps"] >= 0.8 * copy)
        for r in peer.get("decode", []):
            goal(f"dense decode vs SDPA {r['backend']}", f"ours {d['ms'] * 1e3:.1f} us vs {r['ms'] * 1e3:.1f} us",
                 "report", None)
        if sd:
            s = sd[0]
            speed = d["ms"] / s["ms"]
            note = f"attention alone {sa[0]['ms'] * 1e3:.1f} us = {d['ms'] / sa[0]['ms']:.1f}x" if sa else ""
            goal("sparse decode 128K", f"step {s['ms'] * 1e3:.1f} us (plan {s['plan_ms'] * 1e3:.1f} us), "
                 f"{s['attended_tokens']:.0f} keys = {speed:.1f}x dense", ">= 15x dense decode", speed >= 15, note)
            gated = ("sparse_decode_cold", "sparse_decode_fused", "sparse_decode_fused_cold")
            for kind, label in (("sparse_decode_fused", "sparse decode 128K, fused step (1 launch)"),
                                ("sparse_decode_fused_cold", "sparse decode 128K, fused step, 8 caches in turn (cold L2)"),
                                ("sparse_decode_fused_no_pdl", "sparse decode 128K, fused step, graph without PDL"),
                                ("sparse_decode_cold", "sparse decode 128K, 8 caches in turn (cold L2)"),
                                ("sparse_decode_no_graph", "sparse decode 128K, host launches (no graph)"),
                                ("sparse_decode_no_pdl", "sparse decode 128K, graph without PDL"),
                                ("sparse_decode_cluster_planner", "sparse decode 128K, cluster planner + merge kernel")):
                r = [t for t in timings if t["kind"] == kind]
                if r:
                    extra = ""
                    if kind in ("sparse_decode_cold", "sparse_decode_fused_cold") and copy:
                        floor_us = r[0]["gbps"] * r[0]["ms"] * 1e3 / copy  # GB/s x ms / (GB/s) -> us
                        extra = f"floor {floor_us:.1f} us (bytes read per step at copy bandwidth)"
                    goal(label, f"step {r[0]['ms'] * 1e3:.1f} us = {d['ms'] / r[0]['ms']:.1f}x dense",
                         ">= 15x dense decode" if kind in gated else "report",
                         d["ms"] / r[0]["ms"] >= 15 if kind in gated else None, extra)

    result = {"command": args.command, "kernels": k, "peer": peer, "goals": goals}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)

    w = max(len(g["figure"]) for g in goals) if goals else 10
    lines.append(f"device: {k.get('device')}  torch {peer.get('torch')}  matmul peak "
                 f"{peak if peak is None else round(peak)} TFLOP/s  copy {copy if copy is None else round(copy)} GB/s")
    for g in goals:
        met = "-" if g["met"] is None else ("MET" if g["met"] else "missed")
        lines.append(f"{g['figure']:<{w}}  {met:<6}  {g['value']}  [goal {g['goal']}]{'  ' + g['note'] if g['note'] else ''}")
    text = "\n".join(lines)
    with open(args.out.rsplit(".", 1)[0] + ".txt", "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
