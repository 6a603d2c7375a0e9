"""`inferstack eval --against` on the real gateway: the hand-written dev sets and the docs corpus
over HTTP, reports written. The floors are the issue's targets where the dev sets meet them,
and a regression floor for the injection false-positive rate (measured 0.018, target 0.02)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Gateway

pytestmark = pytest.mark.e2e
EVAL = Path(__file__).resolve().parents[2] / "eval"


def test_eval_against_a_running_gateway(gateway: Gateway, tmp_path: Path) -> None:
    sets = tmp_path / "sets"
    for part in ("intent/dev.jsonl", "pii/dev.jsonl", "injection/dev.jsonl"):
        (sets / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EVAL / part, sets / part)
    shutil.copytree(EVAL / "retrieval" / "inferstack-docs", sets / "retrieval" / "inferstack-docs")
    out = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "inferstack.cli", "eval", "all", "--against", gateway.url,
         "--sets", str(sets), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "eval.json").read_text())
    assert report["against"] == gateway.url and (out / "eval.md").is_file()
    results = report["results"]
    assert results["intent"]["dev"]["accuracy"] >= 0.90
    pii = results["pii"]["dev"]
    assert pii["recall"] >= 0.95 and pii["precision"] >= 0.90, pii
    injection = results["injection"]["dev"]
    assert injection["recall"] >= 0.90 and injection["false_positive_rate"] <= 0.03, injection
    docs = results["retrieval"]["inferstack-docs"]
    assert docs["questions"] == 109 and docs["hybrid+rerank"]["mrr@10"] >= docs["dense"]["mrr@10"], docs
    assert {"generated"} <= set(results["intent"])  # the generated held-out sets ride along
