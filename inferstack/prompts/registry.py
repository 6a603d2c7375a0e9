"""The prompt registry: the shipped templates, replaced for every tenant by the files of
`<prompts.directory>/default/`, and for one tenant by those of `<prompts.directory>/<tenant>/`.
Loaded and checked once at start-up; lookups are dictionary reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import jinja2

from inferstack.config.prompts import PromptsConfig
from inferstack.prompts.loader import Document, build_default, build_override, read_folder
from inferstack.prompts.template import Prompt, PromptError, environment

DEFAULTS_DIR = Path(__file__).parent / "defaults"
ALL_TENANTS = "default"  # the override folder that applies to every tenant
_Builder = Callable[[Document], Prompt]


class PromptRegistry:
    def __init__(self, defaults: Mapping[str, Prompt], tenants: Mapping[str, Mapping[str, Prompt]]) -> None:
        self._defaults = dict(defaults)
        self._tenants = {tenant: dict(prompts) for tenant, prompts in tenants.items()}

    @classmethod
    def load(cls, config: PromptsConfig, shipped: Path = DEFAULTS_DIR) -> PromptRegistry:
        """Compile and check every template; the first problem raises PromptError naming the
        file, the template and the line."""
        env = environment()
        defaults = _unique(read_folder(shipped), lambda d: build_default(d, env))
        tenants: dict[str, dict[str, Prompt]] = {}
        root = config.directory
        if root is not None:
            if not root.is_dir():
                raise PromptError(f"prompts.directory: {root} is not a directory")
            stray = sorted(root.glob("*.yaml"))
            if stray:
                raise PromptError(
                    f"{stray[0]}:1: template '{stray[0].stem}': override files go in "
                    f"{root / ALL_TENANTS}/ (every tenant) or {root}/<tenant>/"
                )
            defaults = {**defaults, **_overrides(root / ALL_TENANTS, env, defaults)}
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if folder.name != ALL_TENANTS:
                    tenants[folder.name] = _overrides(folder, env, defaults)
        return cls(defaults, tenants)

    def get(self, name: str, tenant: str | None = None) -> Prompt:
        """The tenant's override of `name` when it has one, else the default (KeyError when no
        template has that name)."""
        if tenant is not None:
            found = self._tenants.get(tenant, {}).get(name)
            if found is not None:
                return found
        return self._defaults[name]

    def names(self) -> list[str]:
        return sorted(self._defaults)

    def tenants(self) -> list[str]:
        """Tenants that have an override folder."""
        return sorted(self._tenants)

    def overrides(self, tenant: str) -> list[str]:
        """Names of the templates `tenant` overrides."""
        return sorted(self._tenants.get(tenant, {}))

    def all(self) -> Iterator[tuple[str | None, Prompt]]:
        """Every distinct template: (None, default) for each name, then (tenant, override)."""
        for name in self.names():
            yield None, self._defaults[name]
        for tenant in self.tenants():
            for name in self.overrides(tenant):
                yield tenant, self._tenants[tenant][name]


def _overrides(folder: Path, env: jinja2.Environment, defaults: Mapping[str, Prompt]) -> dict[str, Prompt]:
    if not folder.is_dir():
        return {}
    return _unique(read_folder(folder), lambda d: build_override(d, env, defaults))


def _unique(documents: list[Document], build: _Builder) -> dict[str, Prompt]:
    out: dict[str, Prompt] = {}
    for document in documents:
        prompt = build(document)
        if prompt.name in out:
            raise document.error(f"also defined in {out[prompt.name].source}", "name")
        out[prompt.name] = prompt
    return out
