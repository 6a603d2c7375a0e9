"""Building the pipeline from config: registry names checked at boot (naming the file and the
key), switched-off stages left out, user stages by import path."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config import ConfigError, load_settings
from inferstack.config.pipeline import DEFAULT_STAGES
from inferstack.pipeline.build import check_names, configured_stages
from inferstack.pipeline.stage import describe


def settings_from(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "inferstack.yaml"
    path.write_text(text)
    return load_settings(path), path


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("router: {policy: cheapest-ever}\n", "router.policy: unknown 'cheapest-ever'; known: ['cost-aware'"),
        ("router: {scorer: magic}\n", "router.scorer: unknown 'magic'"),
        ("pipeline: {stages: [classify, teleport, route, usage, generate]}\n", "stages.1: unknown stage"),
        ("pipeline: {stages: ['json:dumps', route, usage, generate]}\n", "stages.0: 'json:dumps' is not"),
        ("pipeline: {stages: ['no.such:Stage', route, usage, generate]}\n", "stages.0: cannot load"),
        ("pipeline: {stages: [usage, route, generate]}\n", "pipeline.stages: needs route, usage, generate"),
        ("pipeline: {stages: [route, generate]}\n", "pipeline.stages: needs route, usage, generate"),
        # a stored turn must be the redacted text: persist inside the output guard
        ("pipeline: {stages: [persist, output_guard, input_guard, memory, route, usage, generate]}\n",
         "`persist` must come after `output_guard`"),
        ("pipeline: {stages: [memory, input_guard, output_guard, persist, route, usage, generate]}\n",
         "`memory` must come after `input_guard`"),
    ],
)  # fmt: skip
def test_unknown_names_fail_at_boot_naming_file_and_key(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    settings, path = settings_from(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as info:
        check_names(settings)
    assert str(path) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("pipeline: {stages: [route, usage]}\n", "`generate` must be the last stage"),
        ("pipeline: {stages: [route, route, usage, generate]}\n", "each stage at most once"),
    ],
)
def test_the_shape_of_the_list_is_checked_when_the_file_loads(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        settings_from(tmp_path, yaml_text)


def test_the_default_order_and_switched_off_stages(tmp_path: Path) -> None:
    settings, _ = settings_from(tmp_path, "{}\n")
    # No key or tenant has a limit: the quota stages drop out.
    assert [c.name for c in configured_stages(settings)] == [
        s for s in DEFAULT_STAGES if s not in ("quota", "budget")
    ]
    limited, _ = settings_from(tmp_path, "quotas: {default: {requests_per_minute: 60}}\n")
    assert [c.name for c in configured_stages(limited)] == list(DEFAULT_STAGES)
    assert describe(configured_stages(limited))["response"][-1] == "quota"  # the last to see the answer
    order = describe(configured_stages(settings))
    assert order["request"] == [
        "input_guard", "cache", "output_guard", "classify", "memory", "retrieve", "route", "generate",
    ]  # fmt: skip
    assert order["response"] == ["generate", "usage", "route", "persist", "output_guard", "cache"]
    assert order["dry_run"] == ["classify", "route"]
    off, _ = settings_from(
        tmp_path, "guard: {enabled: false}\nclassifier: {in_chat: false}\nsessions: {enabled: false}\n"
    )
    assert [c.name for c in configured_stages(off)] == ["cache", "retrieve", "route", "usage", "generate"]
    no_encoder, _ = settings_from(tmp_path, "embeddings: {enabled: false}\n")
    assert "retrieve" not in [c.name for c in configured_stages(no_encoder)]
