"""Builds the pipeline from config (`pipeline.stages`) and checks every registry name the
config uses (stages, routing policy, quality scorer) at boot, naming the key and the file."""

from __future__ import annotations

import importlib

from inferstack.config import Settings
from inferstack.pipeline.runner import Pipeline
from inferstack.pipeline.stage import Components, Stage
from inferstack.router.policy import POLICIES
from inferstack.router.quality import SCORERS

_STAGES = "inferstack.pipeline.stages"
BUILTIN_STAGES = {
    "quota": f"{_STAGES}.quota:QuotaStage",
    "budget": f"{_STAGES}.quota:BudgetStage",
    "input_guard": f"{_STAGES}.guard:InputGuardStage",
    "cache": f"{_STAGES}.cache:CacheStage",
    "output_guard": f"{_STAGES}.guard:OutputGuardStage",
    "classify": f"{_STAGES}.classify:ClassifyStage",
    "memory": f"{_STAGES}.memory:MemoryStage",
    "persist": f"{_STAGES}.persist:PersistStage",
    "retrieve": f"{_STAGES}.retrieve:RetrieveStage",
    "route": f"{_STAGES}.route:RouteStage",
    "usage": f"{_STAGES}.usage:UsageStage",
    "generate": f"{_STAGES}.generate:GenerateStage",
}
# The backend call needs a decision, and the route record needs the settled cost.
REQUIRED_ORDER = ("route", "usage", "generate")
# Stored turns are redacted text: persist must see the answer before the output guard maps
# pseudonyms back, and the new messages after the input guard redacted them.
# The USD reservation needs the route decision and the quota stage's grant. The cache stores
# answers the output guard has filtered, of requests the input guard has looked at.
INSIDE = (
    ("persist", "output_guard"), ("memory", "input_guard"), ("budget", "route"), ("budget", "quota"),
    ("cache", "input_guard"), ("output_guard", "cache"),
)  # fmt: skip


def stage_class(entry: str) -> type[Stage]:
    """A built-in stage name or a `package.module:Class` path; ValueError says what is wrong."""
    path = BUILTIN_STAGES.get(entry, entry)
    module_name, _, class_name = path.partition(":")
    if not class_name:
        known = ", ".join(sorted(BUILTIN_STAGES))
        raise ValueError(f"unknown stage {entry!r}; built-in: {known}; or a `package.module:Class` path")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load stage {entry!r}: {exc}") from None
    if not (isinstance(found, type) and issubclass(found, Stage)):
        raise ValueError(f"{entry!r} is not a Stage subclass")
    if not isinstance(getattr(found, "name", None), str):
        raise ValueError(f"{entry!r} has no `name`")
    return found


def check_names(settings: Settings) -> list[type[Stage]]:
    """Every registry name in `settings`, resolved; raises ConfigError on the first unknown one."""
    router = settings.router
    if router.policy not in POLICIES:
        raise settings.key_error("router.policy", f"unknown {router.policy!r}; known: {sorted(POLICIES)}")
    if router.scorer not in SCORERS:
        raise settings.key_error("router.scorer", f"unknown {router.scorer!r}; known: {sorted(SCORERS)}")
    entries = settings.pipeline.stages
    classes = []
    for index, entry in enumerate(entries):
        try:
            classes.append(stage_class(entry))
        except ValueError as exc:
            raise settings.key_error(f"pipeline.stages.{index}", str(exc)) from None
    names = [cls.name for cls in classes]
    if len(set(names)) != len(names):
        raise settings.key_error("pipeline.stages", f"two stages share a name: {names}")
    positions = [names.index(n) if n in names else -1 for n in REQUIRED_ORDER]
    if -1 in positions or positions != sorted(positions):
        raise settings.key_error("pipeline.stages", f"needs {', '.join(REQUIRED_ORDER)} in this order")
    if settings.quotas_active and not {"quota", "budget"} <= set(names):
        raise settings.key_error(
            "pipeline.stages", "limits or budgets are configured (quotas, router.budgets, auth): "
            "the list needs `quota` and `budget`, or they would not be enforced",
        )  # fmt: skip
    for inner, outer in INSIDE:
        if inner in names and outer in names and names.index(inner) < names.index(outer):
            raise settings.key_error("pipeline.stages", f"`{inner}` must come after `{outer}` (inside it)")
    return classes


def configured_stages(settings: Settings) -> list[type[Stage]]:
    """The stage classes this configuration runs, outermost first (switched-off ones left out)."""
    return [cls for cls in check_names(settings) if cls.enabled(settings)]


def build_pipeline(parts: Components) -> Pipeline:
    """The configured stages, each built from the components."""
    stages = []
    for cls in configured_stages(parts.settings):
        stage = cls.build(parts)
        if stage is not None:
            stages.append(stage)
    return Pipeline(stages, parts.metrics)
