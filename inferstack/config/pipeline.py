"""Typed configuration of the chat/completions pipeline: which stages run, in which order.
Part of `Settings`; the names are checked against the stage registry when the app is built."""

from __future__ import annotations

from pydantic import Field, model_validator

from inferstack.config.base import Strict

# Outermost first. A request goes down the list to `generate`; the answer comes back up it, so a
# stage that acts on both (the guard's output filter, quotas) wraps everything below it.
DEFAULT_STAGES = (
    "quota", "input_guard", "cache", "output_guard", "persist", "classify", "memory", "retrieve", "route",
    "budget", "usage", "generate",
)  # fmt: skip
TERMINAL_STAGE = "generate"


class PipelineConfig(Strict):
    stages: tuple[str, ...] = Field(
        default=DEFAULT_STAGES,
        min_length=1,
        description="stage names, outermost first, ending with `generate`: a built-in name or a "
        "`package.module:Class` import path; a stage whose component is disabled drops out",
    )

    @model_validator(mode="after")
    def _shape(self) -> PipelineConfig:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages: each stage at most once")
        if self.stages[-1] != TERMINAL_STAGE or self.stages.count(TERMINAL_STAGE) != 1:
            raise ValueError(f"stages: `{TERMINAL_STAGE}` must be the last stage (it calls the backend)")
        return self
