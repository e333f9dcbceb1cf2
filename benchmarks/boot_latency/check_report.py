#!/usr/bin/env python3
"""Checks that a firerun-bench JSON report has the documented shape (schema firerun-bench/1).

Usage: check_report.py REPORT.json [--sweep 1,2]
Exits non-zero with a list of problems when the report is malformed.
"""
import json
import math
import sys

REQUIRED_MEASUREMENTS = ["cold_boot_to_agent_ready", "raw_qemu_boot_to_agent_hello", "exec_true_round_trip"]
REQUIRED_RATIOS = ["cold_boot_vs_raw_qemu"]
STATS = ["n", "min", "p50", "p90", "p99", "max", "mean"]


def check(doc, sweep_levels):
    problems = []

    def need(obj, key, kind, where):
        if not isinstance(obj, dict) or key not in obj:
            problems.append(f"{where}: missing '{key}'")
            return None
        if not isinstance(obj[key], kind) or isinstance(obj[key], bool) and kind is not bool:
            problems.append(f"{where}.{key}: expected {kind}, got {type(obj[key]).__name__}")
            return None
        return obj[key]

    def check_summary(row, where):
        for s in STATS:
            v = need(row, s, (int, float), where)
            if v is not None and (not math.isfinite(v) or v < 0):
                problems.append(f"{where}.{s}: {v} is not a finite non-negative number")
        if all(isinstance(row.get(s), (int, float)) for s in STATS):
            if row["n"] < 1:
                problems.append(f"{where}: n is {row['n']} (unmeasured rows must be absent)")
            if not row["min"] <= row["p50"] <= row["p90"] <= row["p99"] <= row["max"]:
                problems.append(f"{where}: statistics are not ordered min <= p50 <= p90 <= p99 <= max")

    if doc.get("schema") != "firerun-bench/1":
        problems.append(f"schema is {doc.get('schema')!r}, expected 'firerun-bench/1'")
    config = need(doc, "config", dict, "report") or {}
    for key, kind in [("runs", int), ("exec_runs", int), ("sweep", list), ("image", str), ("quick", bool)]:
        need(config, key, kind, "config")
    host = need(doc, "host", dict, "report") or {}
    for key, kind in [("uname", str), ("cpu_model", str), ("cores", int), ("memory_mib", int)]:
        need(host, key, kind, "host")
    vmm = need(doc, "vmm", dict, "report") or {}
    for key in ["qemu_version", "accelerator", "machine"]:
        if not need(vmm, key, str, "vmm"):
            problems.append(f"vmm.{key} is empty")
    images = need(doc, "images", dict, "report") or {}
    for name, img in images.items():
        need(img, "hash", str, f"images.{name}")
        need(img, "kernel_release", str, f"images.{name}")

    measurements = need(doc, "measurements", list, "report") or []
    ids = []
    for i, row in enumerate(measurements):
        where = f"measurements[{i}]"
        mid = need(row, "id", str, where)
        ids.append(mid)
        need(row, "unit", str, where)
        check_summary(row, f"{where}({mid})")
        samples = need(row, "samples", list, where)
        if samples is not None and isinstance(row.get("n"), int) and len(samples) != row["n"]:
            problems.append(f"{where}: {len(samples)} samples but n = {row['n']}")
    for mid in REQUIRED_MEASUREMENTS:
        if mid not in ids:
            problems.append(f"measurement '{mid}' is missing")
    if "python" in images and "python_start_to_first_output" not in ids:
        problems.append("a python image was available but python_start_to_first_output is missing")

    ratios = need(doc, "ratios", list, "report") or []
    rids = [r.get("id") for r in ratios if isinstance(r, dict)]
    for r in ratios:
        v = need(r, "value", (int, float), f"ratios({r.get('id')})")
        if v is not None and not (math.isfinite(v) and v > 0):
            problems.append(f"ratio {r.get('id')} = {v}")
    for rid in REQUIRED_RATIOS:
        if rid not in rids:
            problems.append(f"ratio '{rid}' is missing")

    sweep = need(doc, "sweep", list, "report") or []
    levels = [p.get("concurrency") for p in sweep if isinstance(p, dict)]
    if sweep_levels is not None and levels != sweep_levels:
        problems.append(f"sweep levels are {levels}, expected {sweep_levels}")
    for p in sweep:
        where = f"sweep({p.get('concurrency')})"
        for key in ["wall_ms", "vms_per_second", "pss_total_kib", "pss_per_vm_kib"]:
            v = need(p, key, (int, float), where)
            if v is not None and v <= 0:
                problems.append(f"{where}.{key} is {v}")
        check_summary(need(p, "boot_ms", dict, where) or {}, f"{where}.boot_ms")
    if not isinstance(doc.get("skipped"), list):
        problems.append("report: missing 'skipped' list")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sweep_levels = None
    if "--sweep" in argv:
        sweep_levels = [int(x) for x in argv[argv.index("--sweep") + 1].split(",")]
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    problems = check(doc, sweep_levels)
    for p in problems:
        print("check_report: " + p, file=sys.stderr)
    if not problems:
        print(f"check_report: {argv[1]} is a valid firerun-bench/1 report "
              f"({len(doc['measurements'])} measurements, {len(doc['ratios'])} ratios, {len(doc['sweep'])} sweep levels)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
