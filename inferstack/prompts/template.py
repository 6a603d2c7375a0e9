"""One prompt template: its metadata, its regression cases and the compiled Jinja2 template.

Templates render in Jinja2's immutable sandbox with strict undefined values: a variable the
caller did not pass, an attribute a mapping lacks, or access to Python internals (`__class__`)
raises PromptError naming the template id instead of rendering a partial prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from inferstack.config.base import ConfigError


class PromptError(ConfigError):
    """A template that does not load or render; the message names the file or the template."""


def environment() -> ImmutableSandboxedEnvironment:
    """The environment every template is compiled in (one per registry)."""
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


@dataclass(frozen=True)
class Expect:
    """What a rendering must satisfy: substrings present, substrings absent, a token ceiling."""

    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    max_tokens: int | None = None


@dataclass(frozen=True)
class Case:
    """A regression case: variables to render with and what the text must satisfy."""

    name: str
    variables: dict[str, Any]
    expect: Expect = Expect()


@dataclass(frozen=True)
class Prompt:
    """A versioned template. `id` ("rag-v1") is what answers and stored turns name it by."""

    name: str
    version: int
    description: str
    variables: tuple[str, ...]
    source: Path
    text: str = field(repr=False)
    cases: tuple[Case, ...] = field(default=(), repr=False)
    compiled: jinja2.Template | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.name}-v{self.version}"

    def render(self, **variables: Any) -> str:
        """The template rendered with exactly its declared variables."""
        missing = [v for v in self.variables if v not in variables]
        unknown = sorted(set(variables) - set(self.variables))
        if missing or unknown:
            parts = [f"missing variable(s) {missing}"] if missing else []
            parts += [f"unknown variable(s) {unknown}"] if unknown else []
            raise PromptError(f"template '{self.id}' ({self.source}): {'; '.join(parts)}")
        if self.compiled is None:
            raise PromptError(f"template '{self.id}' ({self.source}): not compiled")
        try:
            return self.compiled.render(**variables)
        except jinja2.exceptions.SecurityError as exc:
            raise PromptError(
                f"template '{self.id}' ({self.source}): refused by the sandbox: {exc}"
            ) from None
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise PromptError(f"template '{self.id}' ({self.source}): cannot render: {exc}") from None
