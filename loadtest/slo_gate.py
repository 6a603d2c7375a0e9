"""SLO gate for a Locust run: fail (exit 1) when p95 TTFT, p95 latency or the error rate exceed
the budgets in a YAML file.

    python -m loadtest.slo_gate reports/locust_stats.csv [--slo loadtest/slo.yaml]

Reads Locust's `*_stats.csv`. Rows of type METRIC are custom metrics (ttft_ms, tokens_per_s) and
are not requests; CHECK rows are content checks whose failures count as errors.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GateResult:
    requests: int
    error_rate: float
    p95_latency_ms: float
    p95_ttft_ms: float | None
    violations: list[str]


def _task_exceptions(stats_csv: Path) -> int:
    """Errors raised inside Locust tasks (not requests): `<prefix>_exceptions.csv` next to it."""
    path = stats_csv.with_name(stats_csv.name.replace("_stats.csv", "_exceptions.csv"))
    if path == stats_csv or not path.is_file():
        return 0
    with path.open(newline="") as handle:
        return sum(int(r["Count"]) for r in csv.DictReader(handle))


def evaluate(stats_csv: Path, budgets: dict[str, float]) -> GateResult:
    with stats_csv.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Name"] != "Aggregated"]
    requests = [r for r in rows if r["Type"] not in ("METRIC", "CHECK")]
    total = sum(int(r["Request Count"]) for r in requests)
    failures = sum(int(r["Failure Count"]) for r in rows if r["Type"] != "METRIC")
    error_rate = failures / total if total else 1.0
    p95_latency = max((float(r["95%"]) for r in requests if int(r["Request Count"])), default=0.0)
    ttft = [float(r["95%"]) for r in rows if r["Type"] == "METRIC" and r["Name"] == "ttft_ms"]
    p95_ttft = ttft[0] if ttft else None
    violations = []
    if total == 0:
        violations.append("no requests were made")
    if exceptions := _task_exceptions(stats_csv):
        violations.append(f"{exceptions} exceptions inside Locust tasks")
    if error_rate > budgets["max_error_rate"]:
        violations.append(f"error rate {error_rate:.3f} > {budgets['max_error_rate']}")
    if p95_latency > budgets["p95_latency_ms"]:
        violations.append(f"p95 latency {p95_latency:.0f} ms > {budgets['p95_latency_ms']} ms")
    if p95_ttft is not None and p95_ttft > budgets["p95_ttft_ms"]:
        violations.append(f"p95 TTFT {p95_ttft:.0f} ms > {budgets['p95_ttft_ms']} ms")
    return GateResult(total, error_rate, p95_latency, p95_ttft, violations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stats_csv", type=Path)
    parser.add_argument("--slo", type=Path, default=ROOT / "loadtest" / "slo.yaml")
    args = parser.parse_args(argv)
    result = evaluate(args.stats_csv, yaml.safe_load(args.slo.read_text()))
    ttft = "n/a" if result.p95_ttft_ms is None else f"{result.p95_ttft_ms:.0f} ms"
    print(f"SLO gate: {result.requests} requests, error rate {result.error_rate:.3%}, "
          f"p95 latency {result.p95_latency_ms:.0f} ms, p95 TTFT {ttft}")  # fmt: skip
    for violation in result.violations:
        print(f"  FAIL: {violation}")
    print("SLO gate:", "FAILED" if result.violations else "passed")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
