"""The gateway's own cost, an older commit against the working tree, side by side in one run.

Both gateways run from the same venv (the older one from `git archive REV`, first on
PYTHONPATH) in front of the FAKE-FAST OpenAI server, in two configurations: pass-through
(guard and intent off) and the default configuration (every stage on). Each gateway is pinned
alone to core 0; wrk and the fake backend share core 1. Rounds interleave the targets so drift
hits all alike; the table reports the median over rounds.

- c=1: wrk's p50 latency; "added" is the gateway's p50 minus the direct p50 of the same round.
- c=32: requests/s and p50 (one core for the gateway).

The older commit gets a cache of its own under `$INFERSTACK_CACHE/bench/` (its training recipe
differs, and it must not retrain the shared models); the reranker is off on both sides, since the
two-word message never retrieves.

    python -m loadtest.bench_ab --baseline REV [--rounds 3] [--seconds 10] [--out reports/bench-ab.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from loadtest.bench_gateway import free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "fake-fast", "messages": [{"role": "user", "content": "Say hello."}]}
CONFIGS = {
    "pass-through": {"guard": {"enabled": False}, "classifier": {"in_chat": False}},
    "default": {},
}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def cache_root() -> Path:
    return Path(os.environ.get("INFERSTACK_CACHE", "~/.cache/inferstack")).expanduser()


def export_tree(rev: str) -> Path:
    """The commit's files (no git metadata) in the cache; kept between runs of the same commit."""
    sha = subprocess.check_output(["git", "rev-parse", rev], cwd=ROOT, text=True).strip()
    target = cache_root() / "bench" / f"tree-{sha[:12]}"
    if not (target / "inferstack").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        with tempfile.TemporaryFile() as tmp:
            tmp.write(archive)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp) as tar:
                tar.extractall(target, filter="data")
    return target


@contextmanager
def gateway(
    name: str, tree: Path | None, extra: dict[str, object], fake_port: int, work: Path
) -> Iterator[str]:
    port = free_port()
    fake = {
        "kind": "remote",
        "api": "openai",
        "base_url": f"http://127.0.0.1:{fake_port}/v1",
        "health_url": None,
    }
    config = {
        "port": port,
        "retrieval": {"rerank": False, "milvus_uri": str(work / f"{name}.db")},
        "models": [{"name": "fake-fast", "required": False, "serve": fake}],
        **extra,
    }
    (work / f"{name}.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "INFERSTACK_CONFIG": str(work / f"{name}.yaml")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
        env["INFERSTACK_CACHE"] = str(cache_root() / "bench" / f"cache-{tree.name}")
    log = work / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "inferstack.cli", "serve"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree or ROOT,
        )  # fmt: skip
    try:
        wait_ready(process, log, 1200)
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def wrk(url: str, connections: int, seconds: int, script: Path) -> dict[str, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if p50 is None or rps is None:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed requests:\n{out}")
    return {"p50_ms": float(p50.group(1)) * _UNITS[p50.group(2)], "rps": float(rps.group(1))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-ab.json")
    args = parser.parse_args()
    tree = export_tree(args.baseline)
    with (
        tempfile.TemporaryDirectory(prefix="bench-ab-", dir=cache_root() / "tmp") as tmp,
        ExitStack() as stack,
    ):
        work = Path(tmp)
        script = work / "post.lua"
        body = json.dumps(BODY).replace("\\", "\\\\").replace('"', '\\"')
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n'
        )
        fake_port = free_port()
        server = [sys.executable, str(ROOT / "loadtest" / "fake_openai_server.py"), "--port", str(fake_port)]
        fake = subprocess.Popen(["taskset", "-c", "1", *server])
        stack.callback(lambda: (fake.terminate(), fake.wait(timeout=30)))
        direct = f"http://127.0.0.1:{fake_port}/v1/chat/completions"
        targets = {}
        for config in args.configs:
            extra = CONFIGS[config]
            for side, source in (("baseline", tree), ("new", None)):
                name = f"{side}-{config}"
                targets[name] = stack.enter_context(gateway(name, source, extra, fake_port, work))
        time.sleep(2)
        for url in (direct, *targets.values()):  # warm-up: first requests load lazy paths
            wrk(url, 1, 2, script)
        rounds: list[dict[str, dict[str, float]]] = []
        for _ in range(args.rounds):
            measured = {"direct": {f"c1_{k}": v for k, v in wrk(direct, 1, args.seconds, script).items()}}
            for name, url in targets.items():
                one = wrk(url, 1, args.seconds, script)
                many = wrk(url, 32, args.seconds, script)
                added = one["p50_ms"] - measured["direct"]["c1_p50_ms"]
                measured[name] = {"c1_p50_ms": one["p50_ms"], "c1_added_ms": added,
                                  "c32_rps": many["rps"], "c32_p50_ms": many["p50_ms"]}  # fmt: skip
            rounds.append(measured)
            print(json.dumps(measured), flush=True)
    median = {
        name: {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]}
        for name in rounds[0]
    }
    report(args.baseline, args.configs, median, rounds, args.out)


def report(
    baseline: str, configs: list[str], median: dict[str, dict[str, float]], rounds: list[object], out: Path
) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"baseline": baseline, "median": median, "rounds": rounds}, indent=2))
    print(f"\nMedian of {len(rounds)} rounds; gateway on one core, wrk + fake-fast backend on the other.")
    print(f"direct to the fake backend, c=1: p50 {median['direct']['c1_p50_ms']:.3f} ms\n")
    print("| config | commit | c=1 added p50 | c=32 req/s | c=32 p50 |")
    print("|---|---|---|---|---|")
    for config in configs:
        for side in ("baseline", "new"):
            m = median[f"{side}-{config}"]
            label = baseline if side == "baseline" else "working tree"
            cells = (
                config,
                label,
                f"{m['c1_added_ms']:.3f} ms",
                f"{m['c32_rps']:.0f}",
                f"{m['c32_p50_ms']:.1f} ms",
            )
            print("| " + " | ".join(cells) + " |")
        old, new = median[f"baseline-{config}"], median[f"new-{config}"]
        print(f"| {config} | change | {new['c1_added_ms'] - old['c1_added_ms']:+.3f} ms | "
              f"{100 * (new['c32_rps'] / old['c32_rps'] - 1):+.1f} % | |")  # fmt: skip


if __name__ == "__main__":
    main()
