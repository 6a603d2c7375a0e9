"""Which sets each evaluation runs on, running them, and the report (`reports/eval.json` and a
Markdown page with the summary table, per-class metrics, confusion pairs and latency)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from inferstack.evals import classifiers, generated, retrieval
from inferstack.evals.client import EvalClient
from inferstack.evals.sets import (
    Question,
    RouterCase,
    corpus,
    injection_cases,
    intent_cases,
    named_sets,
    pii_cases,
    router_cases,
)
from inferstack.evals.sets import questions as read_questions

TASKS = ("intent", "pii", "injection", "retrieval", "router")
INTENT_LABELS = ("greeting", "chitchat", "knowledge_question", "task_request", "coding", "math_reasoning",
                 "account_personal", "complaint_escalation", "unsafe_request")  # fmt: skip


@dataclass
class Plan:
    """What to run: the golden-set folder, sets given on the command line, a user collection."""

    sets_dir: Path
    files: list[Path] = field(default_factory=list)
    collection: str | None = None
    qrels: Path | None = None
    show_errors: int = 0


def _golden() -> list[RouterCase]:
    from inferstack.router import golden

    return [RouterCase(text, strong) for text, strong in golden.split()[1]]


def _cases(task: str, plan: Plan) -> dict[str, Callable[[], Any]]:
    """Set name -> loader, for one of the classifier tasks."""
    readers: dict[str, Callable[[Path], Any]] = {
        "intent": partial(intent_cases, labels=INTENT_LABELS), "pii": pii_cases, "injection": injection_cases,
        "router": router_cases,
    }  # fmt: skip
    read = readers[task]
    if plan.files:
        return {p.stem: partial(read, p) for p in plan.files}
    found: dict[str, Callable[[], Any]] = {
        n: partial(read, p) for n, p in named_sets(plan.sets_dir / task).items()
    }
    if task == "router":
        found["golden (evaluation half)"] = _golden
    else:
        found["generated"] = getattr(generated, task)
    return found


def run_task(task: str, client: EvalClient, plan: Plan) -> dict[str, Any]:
    show = plan.show_errors
    if task == "retrieval":
        if plan.collection is not None:
            asked: list[Question] = read_questions(plan.qrels) if plan.qrels else []
            return {plan.collection: retrieval.search_quality(client, plan.collection, asked)}
        folders = plan.files or sorted(p for p in (plan.sets_dir / "retrieval").iterdir() if p.is_dir())
        return {folder.name: retrieval.corpus(client, corpus(folder)) for folder in folders}
    results = {}
    for name, load in _cases(task, plan).items():
        cases = load()
        if task == "intent":
            results[name] = classifiers.intent(client, cases, INTENT_LABELS, show)
        elif task == "pii":
            results[name] = classifiers.pii(client, cases, show)
        elif task == "injection":
            results[name] = classifiers.injection(client, cases, show)
        else:
            results[name] = classifiers.router(client, cases)
    return results


# ---- report ------------------------------------------------------------------------------------
_SUMMARY = {
    "intent": ("examples", "accuracy", "macro_f1", "unsafe_request_recall", "confident_share"),
    "pii": ("values", "recall", "fully_redacted", "precision", "values_left", "clean_messages_flagged"),
    "injection": ("attacks", "benign", "recall", "false_positive_rate"),
    "router": ("prompts", "cheap_share", "adequate_share", "strong_recall"),
}


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]


def markdown(results: dict[str, dict[str, Any]], where: str) -> str:
    out = [f"# inferstack eval ({where})", ""]
    for task, by_set in results.items():
        out += [f"## {task}", ""]
        if task == "retrieval":
            rows = []
            for name, r in by_set.items():
                for mode, _ in retrieval.MODES:
                    m = r[mode]
                    rows.append(
                        [name, mode, m["mrr@10"], m["recall@5"], m["ndcg@10"], m["latency"].get("p50_ms", "")]
                    )
            out += [*_table(["corpus", "mode", "MRR@10", "recall@5", "nDCG@10", "p50 ms"], rows), ""]
            continue
        keys = _SUMMARY[task]
        rows = [[name, *(r[k] for k in keys), r["latency"].get("p50_ms", "")] for name, r in by_set.items()]
        out += [*_table(["set", *keys, "p50 ms"], rows), ""]
        for name, r in by_set.items():
            if task == "intent":
                per = [[label, m["precision"], m["recall"], m["f1"]] for label, m in r["per_label"].items()]
                out += [
                    f"**{name}**: per label",
                    "",
                    *_table(["label", "precision", "recall", "F1"], per),
                    "",
                ]
                pairs = [[c["gold"], c["predicted"], c["count"]] for c in r["confusions"]]
                out += [*_table(["gold", "predicted as", "count"], pairs), ""]
            elif task == "pii":
                out += [
                    f"**{name}**: recall by type {r['recall_by_type']}; false findings {r['false_findings']}",
                    "",
                ]
            elif task == "injection":
                cats = [[k, v] for k, v in r["flagged_share_by_category"].items()]
                out += [
                    f"**{name}**: flagged share by category",
                    "",
                    *_table(["category", "flagged"], cats),
                    "",
                ]
    return "\n".join(out) + "\n"


def write_report(results: dict[str, dict[str, Any]], out_dir: Path, where: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data, page = out_dir / "eval.json", out_dir / "eval.md"
    data.write_text(json.dumps({"against": where, "results": results}, indent=2))
    page.write_text(markdown(results, where))
    return data, page
