"""Typed configuration of the prompt templates (part of `Settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from inferstack.config.base import Strict


class PromptsConfig(Strict):
    directory: Path | None = Field(
        default=None,
        description="folder of template overrides: default/*.yaml for every tenant, <tenant>/*.yaml "
        "for one tenant; null = the shipped templates only",
    )
