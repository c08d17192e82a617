#!/usr/bin/env python3
"""Prints the tables of benches/load/harness.sh (standard library only).

    report.py RESULTS LATENCIES OUTCOMES CONNECTIONS

RESULTS: one line per saturation run (round, target, req/s, requests per CPU-second,
requests, non-2xx/3xx, socket errors, peak RSS kB, rows in clicks, Postgres CPU s).
LATENCIES: target, share of saturation, rate asked, oha's JSON report.
OUTCOMES: round, target, discard rule (or 'redirected'), rows.

Ratios to nginx are taken per round (same minute, same noise) and then summarised:
the median, and the min-max over rounds so the machine's noise shows.
"""

import json
import statistics
import sys
from collections import defaultdict

BASELINE = "nginx_302"


def spread(values, fmt):
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def load_results(path):
    runs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r, target, rps, per_cpu, requests, non3xx, errors, hwm, rows, pg = line.rstrip("\n").split("\t")
            runs.append({
                "round": int(r), "target": target, "rps": float(rps), "per_cpu": float(per_cpu),
                "requests": int(requests), "non3xx": int(non3xx), "errors": int(errors),
                "hwm_mb": int(hwm) / 1024, "rows": None if rows == "-" else int(rows),
                "pg_cpu": None if pg == "-" else float(pg),
            })
    return runs


def saturation(runs):
    targets = list(dict.fromkeys(r["target"] for r in runs))
    base = {r["round"]: r for r in runs if r["target"] == BASELINE}
    print("Saturation (wrk, one worker on core 0, load on core 1): median [min-max] over rounds")
    print(f"{'target':<18} {'req/s':>22} {'req per CPU-s':>22} {'req/s vs nginx':>20} {'per-CPU vs nginx':>20}"
          f" {'peak RSS MB':>12} {'non-3xx':>8} {'sock err':>8}")
    for t in targets:
        mine = [r for r in runs if r["target"] == t]
        ratio = [r["rps"] / base[r["round"]]["rps"] for r in mine if r["round"] in base]
        cpu_ratio = [r["per_cpu"] / base[r["round"]]["per_cpu"] for r in mine if r["round"] in base]
        non3xx = sum(r["non3xx"] for r in mine) / max(1, sum(r["requests"] for r in mine))
        print(f"{t:<18} {spread([r['rps'] for r in mine], '{:.0f}'):>22} "
              f"{spread([r['per_cpu'] for r in mine], '{:.0f}'):>22} {spread(ratio, '{:.2f}'):>20} "
              f"{spread(cpu_ratio, '{:.2f}'):>20} {max(r['hwm_mb'] for r in mine):>12.1f} "
              f"{100 * non3xx:>7.1f}% {sum(r['errors'] for r in mine):>8}")
    print("(non-3xx: discarded clicks answered 404, no fallback URL configured; nginx and axum always 302)")


def postgres(runs, connections):
    pg_runs = [r for r in runs if r["rows"] is not None]
    if not pg_runs:
        return
    print()
    print("Postgres targets: clicks answered (wrk) vs rows in clicks after SIGTERM, and Postgres CPU")
    print(f"{'round':>5} {'target':<18} {'answered':>10} {'rows':>10} {'rows-answered':>14} "
          f"{'PG CPU s':>9} {'PG CPU ms / 1k clicks':>22}")
    per_k = defaultdict(dict)
    for r in sorted(pg_runs, key=lambda r: (r["target"], r["round"])):
        diff = r["rows"] - r["requests"]
        # Requests in flight when wrk stops are answered to nobody but written:
        # up to one per connection. Fewer rows than answers would be a loss.
        note = "" if 0 <= diff <= connections else "  <-- LOST" if diff < 0 else "  <-- more than in flight"
        ms = 1e6 * r["pg_cpu"] / r["rows"] if r["rows"] else float("nan")
        per_k[r["target"]][r["round"]] = ms
        print(f"{r['round']:>5} {r['target']:<18} {r['requests']:>10} {r['rows']:>10} {diff:>14} "
              f"{r['pg_cpu']:>9.2f} {ms:>22.1f}{note}")
    print("(PG CPU: user+system of every process of the private cluster, from before the load to after the"
          " shutdown flush, rollup upserts and WAL included)")
    for t, by_round in per_k.items():
        print(f"  {t:<18} PG CPU per 1,000 clicks: {spread(list(by_round.values()), '{:.1f}')} ms")
    if "sy_pg_c" in per_k and "sy_pg_c_noidx" in per_k:
        ratios = [per_k["sy_pg_c"][n] / per_k["sy_pg_c_noidx"][n]
                  for n in per_k["sy_pg_c"] if n in per_k["sy_pg_c_noidx"]]
        print(f"  the 4 optional clicks indexes: Postgres CPU with them / without them = {spread(ratios, '{:.2f}')}")


def outcomes(path):
    counts = defaultdict(lambda: defaultdict(int))
    with open(path, encoding="utf-8") as f:
        for line in f:
            _, target, rule, n = line.rstrip("\n").split("\t")
            counts[target][rule] += int(n)
    if not counts:
        return
    print()
    print("Outcomes in Postgres (all rounds): share discarded and by which rule")
    for target, rules in counts.items():
        total = sum(rules.values())
        discarded = total - rules.get("redirected", 0)
        top = sorted(((n, r) for r, n in rules.items() if r != "redirected"), reverse=True)[:6]
        detail = ", ".join(f"{r} {100 * n / total:.2f}%" for n, r in top)
        print(f"  {target:<18} {total:>9} clicks, {100 * discarded / total:.1f}% discarded: {detail}")


def latency(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            target, share, rate, report = line.rstrip("\n").split("\t")
            rows.append((target, int(share), int(rate), report))
    if not rows:
        return
    print()
    print("Latency at a constant rate (oha -q, latency correction on: no coordinated omission), ms")
    print(f"{'target':<18} {'share':>5} {'asked/s':>8} {'got/s':>8} {'p50':>7} {'p99':>7} {'p99.9':>7} "
          f"{'max':>7} {'non-302':>8} {'errors':>7}")
    for target, share, rate, report in rows:
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
        pct = data["latencyPercentiles"]
        codes = data.get("statusCodeDistribution", {})
        non302 = sum(n for code, n in codes.items() if code != "302")
        # oha cuts the requests in flight when the duration ends: not the server's errors.
        errors = sum(n for e, n in data.get("errorDistribution", {}).items() if "deadline" not in e)
        summary = data["summary"]
        print(f"{target:<18} {share:>4}% {rate:>8} {summary['requestsPerSec']:>8.0f} "
              f"{1e3 * pct['p50']:>7.3f} {1e3 * pct['p99']:>7.3f} {1e3 * pct['p99.9']:>7.3f} "
              f"{1e3 * summary['slowest']:>7.3f} {non302:>8} {errors:>7}"
              + ("  <-- rate not held" if summary["requestsPerSec"] < 0.97 * rate else ""))
    print("(non-302: discarded clicks, 404; one client IP and user agent per oha run. 'rate not held': the"
          " server, or oha itself on its one core, fell behind; its percentiles include that queueing)")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    runs = load_results(sys.argv[1])
    saturation(runs)
    postgres(runs, int(sys.argv[4]))
    outcomes(sys.argv[3])
    latency(sys.argv[2])


if __name__ == "__main__":
    main()
