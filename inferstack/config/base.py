"""What every config module shares: the strict, frozen base model and the config error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """A configuration problem, already phrased for a person: file, key path, reason."""


class Strict(BaseModel):
    """Unknown keys are errors (a typo never passes silently); values never change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)
