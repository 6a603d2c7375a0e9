"""The `inferstack` command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "inferstack.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("inferstack ")
    for command in (["serve"], ["models", "pull"], ["config", "check"]):
        result = run(*command, "--help")
        assert result.returncode == 0 and "usage: inferstack" in result.stdout


def test_config_check_ok_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("port: 8080\n")
    result = run("config", "check", str(good))
    assert result.returncode == 0 and "OK" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: 8080\nmodels:\n  - name: m\n    max_context: 12\n")
    result = run("config", "check", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "models.0.max_context" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_public_bind_without_keys() -> None:
    result = run("serve", "--host", "0.0.0.0", timeout=60)
    assert result.returncode == 2
    assert "refusing to bind 0.0.0.0 without API keys" in result.stderr


def test_models_pull_is_cached() -> None:
    result = run("models", "pull", timeout=300)
    assert result.returncode == 0, result.stderr
    result = run("models", "pull")
    assert "smollm2-135m: cached, verified" in result.stdout


def test_models_pull_unknown_name() -> None:
    result = run("models", "pull", "nope")
    assert result.returncode == 2 and "unknown model" in result.stderr


def test_train_is_cached_and_rejects_unknown_kinds() -> None:
    result = run("train", timeout=900)  # trains only when `make` has not already
    assert result.returncode == 0, result.stderr
    again = run("train")
    assert "intent: cached" in again.stdout and "ner: cached" in again.stdout
    assert "held-out accuracy" in again.stdout
    bad = run("train", "sentiment")
    assert bad.returncode == 2 and "unknown kind" in bad.stderr


def test_keys_create_list_rotate_revoke(tmp_path: Path) -> None:
    config = tmp_path / "inferstack.yaml"
    config.write_text(
        f"auth: {{require_keys: true, database_url: 'sqlite+aiosqlite:///{tmp_path / 'k.db'}'}}\n"
    )
    made = run("keys", "create", "--tenant", "acme", "--name", "ci", "--rpm", "30", "--endpoints", "chat",
               "--config", str(config))  # fmt: skip
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["key"].startswith("isk-") and created["limits"] == {"requests_per_minute": 30}
    listed = run("keys", "list", "--tenant", "acme", "--config", str(config)).stdout
    assert created["id"] in listed and created["key"] not in listed
    rotated = json.loads(run("keys", "rotate", created["id"], "--config", str(config)).stdout)
    assert rotated["replaces"] == created["id"] and rotated["endpoints"] == ["chat"]
    assert (
        run("keys", "revoke", created["id"], "--config", str(config)).returncode == 1
    )  # rotation revoked it
    assert run("keys", "revoke", rotated["id"], "--config", str(config)).returncode == 0
    bad = run("keys", "create", "--tenant", "acme", "--endpoints", "root", "--config", str(config))
    assert bad.returncode == 2 and "unknown ['root']" in bad.stdout
