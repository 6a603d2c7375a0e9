"""Merge the benchmark JSONs of one `make bench` run into reports/bench.json and one summary
table in README (`<!-- bench:summary:... -->`): each number next to the baseline measured in
the same run (or, where a stage has no baseline to run against, next to its target).

    python -m loadtest.bench_summary [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

from loadtest.report import update_readme

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("gateway", "default", "quotas", "classify", "router", "placement", "retrieval", "guard", "stream",
         "sessions")  # fmt: skip


def _load(reports: Path) -> dict[str, Any]:
    found = {}
    for part in PARTS:
        path = reports / f"bench-{part}.json"
        if path.is_file():
            found[part] = json.loads(path.read_text())
    return found


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, result, baseline in the same run, ratio)."""
    out = []
    if gw := results.get("gateway"):
        ff = gw["fake_fast_non_stream"]
        ratio = ff["gateway_p50_ms"] / ff["direct_p50_ms"]
        out.append(
            (
                "gateway, non-stream (fake-fast backend)",
                f"p50 {ff['gateway_p50_ms']:.2f} ms",
                f"direct p50 {ff['direct_p50_ms']:.2f} ms",
                f"{ratio:.2f}x",
            )
        )
        for key, label in (("vllm_stream_c1", "1 stream"), ("vllm_stream_c8", "8 streams")):
            if key in gw:
                s = gw[key]
                out.append(
                    (
                        f"gateway streaming, real vLLM, {label}",
                        f"{s['gateway_tok_s']:.1f} tok/s",
                        f"direct {s['direct_tok_s']:.1f} tok/s",
                        f"{s['ratio']:.3f}",
                    )
                )
    if df := results.get("default"):
        short, passed = df["c1_short_default"], df["c1_short_pass_through"]
        out.append(("default config (guard + intent on), \"Say hello.\", added p50 (fake-fast)",
                    f"{short['added_p50_ms']:.2f} ms", f"pass-through {passed['added_p50_ms']:.2f} ms",
                    f"{short['added_p50_ms'] / max(passed['added_p50_ms'], 0.01):.1f}x"))  # fmt: skip
        full, bare = df["c32_default"], df["c32_pass_through"]
        out.append(("default config, c=32 on one core (wrk)", f"{full['req_s']:,.0f} req/s",
                    f"pass-through {bare['req_s']:,.0f} req/s",
                    f"{full['req_s'] / bare['req_s']:.2f}x"))  # fmt: skip
    if qu := results.get("quotas"):
        on, off = qu["c1_quotas"], qu["c1_all_off"]
        out.append(("API key + quotas on Redis, c=1, added p50 (fake-fast)", f"{on['added_p50_ms']:.2f} ms",
                    f"keys + quotas off {off['added_p50_ms']:.2f} ms",
                    f"+{on['added_p50_ms'] - off['added_p50_ms']:.2f} ms"))  # fmt: skip
        full, bare = qu["c32_quotas"], qu["c32_all_off"]
        out.append(("API key + quotas on Redis, c=32 on one core (wrk)", f"{full['req_s']:,.0f} req/s",
                    f"keys + quotas off {bare['req_s']:,.0f} req/s",
                    f"{full['req_s'] / bare['req_s']:.2f}x"))  # fmt: skip
    if cl := results.get("classify"):
        out.append(
            (
                "intent, one 30-word message",
                f"p50 {cl['intent_single']['p50_ms']:.1f} ms",
                "target 5 ms",
                f"{cl['intent_single']['p50_ms'] / 5:.1f}x target",
            )
        )
        out.append(
            (
                "NER, one 30-word message",
                f"p50 {cl['ner_single']['p50_ms']:.1f} ms",
                "target 8 ms",
                f"{cl['ner_single']['p50_ms'] / 8:.1f}x target",
            )
        )
    if rt := results.get("router"):
        d, f, g = rt["decision"], rt["failover"], rt["golden"]["evaluation"]
        out.append(
            (
                "routing decision",
                f"p50 {d['decide_p50_ms']:.3f} ms",
                "target 0.5 ms",
                f"{d['decide_p50_ms'] / 0.5:.2f}x target",
            )
        )
        out.append(
            (
                "mid-stream failover recovery",
                f"p50 {f['recovery_p50_ms']:.0f} ms",
                f"backup TTFT p50 {f['baseline_ttft_p50_ms']:.0f} ms",
                f"{f['recovery_p50_ms'] / f['baseline_ttft_p50_ms']:.2f}x",
            )
        )
        share = f"{g['cheap_share']:.1%} (adequate {g['quality_kept']:.1%})"
        out.append(
            (
                "golden routing, cheap-tier share",
                share,
                "always-strong: 0 %",
                f"cost {1 - (g['cost_saved'] or 0):.2f}x of always-strong",
            )
        )
    if pl := results.get("placement"):
        rr, pa = pl["round_robin"], pl["prefix_aware"]
        hits = f"{pa['hit_rate'] / rr['hit_rate']:.2f}x" if rr["hit_rate"] else "n/a"
        out.append(
            (
                "2 vLLM replicas, multi-turn: prefix-aware hit rate / TTFT p50",
                f"{pa['hit_rate']:.1%} / {pa['ttft_p50_ms']:.0f} ms",
                f"round-robin {rr['hit_rate']:.1%} / {rr['ttft_p50_ms']:.0f} ms",
                f"{hits} / {pa['ttft_p50_ms'] / rr['ttft_p50_ms']:.2f}x",
            )
        )
    if rv := results.get("retrieval"):
        q = rv["quality"]
        best = max(q["dense"]["ndcg@10"], q["bm25"]["ndcg@10"])
        for variant in ("hybrid (weighted 0.8)", "hybrid + rerank"):
            value = q[variant]["ndcg@10"]
            out.append((f"retrieval nDCG@10, {variant} (man pages)", f"{value:.3f}",
                        f"best single retriever {best:.3f}", f"{value / best:.2f}x"))  # fmt: skip
        if lat := rv.get("latency"):
            targets = {"rerank of 20 candidates": ("rerank20_p50_ms", 80),
                       "retrieve end to end, 10k chunks": ("retrieve_e2e_p50_ms", 150)}  # fmt: skip
            for name, (key, target) in targets.items():
                ratio = f"{lat[key] / target:.2f}x target"
                out.append((name, f"p50 {lat[key]:.0f} ms", f"target {target} ms", ratio))
    if gd := results.get("guard"):
        full, chunk, pii = gd["input_guard_ner_bert"], gd["stream_chunk"], gd["pii_ner_bert"]
        out.append((f"full input guard, {gd['message_words']}-word message", f"p50 {full['p50_ms']:.1f} ms",
                    "target 15 ms", f"{full['p50_ms'] / 15:.2f}x target"))  # fmt: skip
        out.append(("stream output guard, per chunk", f"p50 {chunk['p50_ms']:.2f} ms", "target 1 ms",
                    f"{chunk['p50_ms']:.2f}x target"))  # fmt: skip
        out.append(("PII recall (Faker, held-out templates)", f"{pii['recall']:.3f}", "target 0.95",
                    f"{pii['recall'] / 0.95:.2f}x target"))  # fmt: skip
    if st := results.get("stream"):
        hold = st["hold_p50_ms"]
        out.append(("stream guard: first visible text after the first token (real vLLM)",
                    f"p50 +{hold:.1f} ms", "target +50 ms", f"{hold / 50:.2f}x target"))  # fmt: skip
    if ss := results.get("sessions"):
        out.append((f"session stages per turn ({ss['history_turns']} turns stored, SQLite)",
                    f"p50 {ss['turn_p50_ms']:.2f} ms", "target 3 ms",
                    f"{ss['turn_p50_ms'] / 3:.2f}x target"))  # fmt: skip
        if "recall_p50_ms" in ss:
            recall = ss["recall_p50_ms"]
            out.append((f"memory recall over {ss['memory_turns']:,} stored turns", f"p50 {recall:.1f} ms",
                        "target 30 ms", f"{recall / 30:.2f}x target"))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    results = _load(args.reports)
    cpu = platform.processor() or platform.machine()
    machine = f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    (args.reports / "bench.json").write_text(json.dumps({"machine": machine, **results}, indent=2))
    table = "\n".join(
        [
            f"Machine: {machine}, no GPU. Command: `make bench` (each part's latest run; every "
            f"ratio compares numbers from the same run of its part); "
            f"merged into `reports/bench.json`.",
            "",
            "| benchmark | result | baseline (same run) | ratio |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)),
        ]
    )
    print(table)
    if args.readme:
        update_readme(args.readme, table, "summary")


if __name__ == "__main__":
    main()
