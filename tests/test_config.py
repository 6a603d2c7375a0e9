"""Config validation: good files load, bad ones fail naming the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config import ConfigError, Settings, is_loopback, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inferstack.yaml"
    path.write_text(text)
    return path


def test_embedded_defaults_describe_single_box(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFERSTACK_CONFIG", raising=False)
    settings = load_settings(use_env_path=False)
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.default_deployment.name == "smollm2-135m"
    assert settings.limits.max_body_bytes == 1024 * 1024
    assert not settings.auth_enabled


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("port: 70000\n", "port: Input should be less than or equal to 65535"),
        ("prot: 8000\n", "prot: Extra inputs are not permitted"),
        ("models: []\n", "models: Tuple should have at least 1 item"),
        (
            "models:\n  - name: a\n    serve: {kind: local}\n",
            "models.0: Value error, a model served locally needs a `source`",
        ),
        (
            "models:\n  - name: a\n    serve: {kind: remote, base_url: 'ftp://x'}\n",
            "models.0.serve.remote.base_url: String should match pattern",
        ),
        (
            "limits: {max_body_bytes: 10}\n",
            "limits.max_body_bytes: Input should be greater than or equal to 1024",
        ),
        ("default_model: nope\n", "default_model: 'nope' is not one of"),
        ("sessions: {summary_model: nope}\n", "sessions.summary_model: 'nope' is not one of"),
        ("sessions: {recall_turns: 0}\n", "sessions.recall_turns: Input should be greater than or equal"),
        ("auth: {api_keys: [{tenant: t}]}\n", "auth.api_keys.0: Value error, set exactly one of"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("port: [\n", "not valid YAML"),
    ],
)
def test_invalid_file_names_file_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    assert expected in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "sessions.database_url: Value error, not a SQLAlchemy URL"),
        ("mysql://app:hunter2@db/app", "driver 'mysql' is not supported"),
        ("postgresql://app:hunter2@db/app", "driver 'postgresql' is not supported"),
    ],
)
def test_a_bad_sessions_url_is_named_and_never_echoed(tmp_path: Path, url: str, expected: str) -> None:
    path = write(tmp_path, f"sessions: {{database_url: '{url}'}}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert expected in str(info.value) and "hunter2" not in str(info.value)


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "port: 9000\nlog_level: debug\n")
    monkeypatch.setenv("INFERSTACK_PORT", "9100")
    monkeypatch.setenv("INFERSTACK_LIMITS__MAX_BODY_BYTES", "4096")
    settings = load_settings(path)
    assert settings.port == 9100
    assert settings.limits.max_body_bytes == 4096
    assert settings.log_level == "debug"


def test_cache_dir_from_inferstack_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERSTACK_CACHE", str(tmp_path / "c"))
    assert load_settings(use_env_path=False).cache_dir == (tmp_path / "c").resolve()


def test_config_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERSTACK_CONFIG", str(write(tmp_path, "port: 8123\n")))
    assert load_settings().port == 8123


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("host", "keys", "refused"),
    [
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("0.0.0.0", False, True),
        ("10.1.2.3", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_bind_rule(host: str, keys: bool, refused: bool) -> None:
    auth = {"api_keys": [{"tenant": "t", "key": "k"}]} if keys else {}
    settings = Settings(host=host, auth=auth)
    if refused:
        with pytest.raises(ConfigError, match="without API keys"):
            settings.check_bind()
    else:
        settings.check_bind()


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.2") and not is_loopback("example.org")


def test_api_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(auth={"api_keys": [{"tenant": "team-a", "key_env": "TEAM_A_KEY"}]})
    with pytest.raises(ConfigError, match="TEAM_A_KEY"):
        settings.auth.api_keys[0].resolve()
    monkeypatch.setenv("TEAM_A_KEY", "s3cret")
    assert settings.auth.api_keys[0].resolve() == "s3cret"


def test_secret_key_not_in_repr() -> None:
    settings = Settings(auth={"api_keys": [{"tenant": "t", "key": "do-not-print"}]})
    assert "do-not-print" not in repr(settings)
