"""`inferstack prompts list|show|render|test`: the prompt templates as the gateway loads them
(shipped defaults, `prompts.directory` overrides), rendered by hand, and their regression cases."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inferstack.cli.common import EXIT_CONFIG, batch_settings
from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.models import LocalVllm
from inferstack.prompts import Prompt, PromptRegistry, TokenCounter, run_cases


def _registry(args: argparse.Namespace) -> tuple[Settings, PromptRegistry]:
    settings = batch_settings(args)
    return settings, PromptRegistry.load(settings.prompts)


def _origin(prompt: Prompt, tenant: str | None, registry: PromptRegistry) -> str:
    if tenant is not None and prompt.name in registry.overrides(tenant):
        return f"tenant {tenant}"
    return "default"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_list(args: argparse.Namespace) -> int:
    _, registry = _registry(args)
    rows = [("name", "id", "variables", "from", "file")]
    for name in registry.names():
        prompt = registry.get(name, args.tenant)
        rows.append((name, prompt.id, ", ".join(prompt.variables), _origin(prompt, args.tenant, registry),
                     str(prompt.source)))  # fmt: skip
    print(_table(rows))
    if args.tenant is None and registry.tenants():
        print(f"tenants with overrides: {', '.join(registry.tenants())}")
    return 0


def _get(registry: PromptRegistry, name: str, tenant: str | None) -> Prompt | None:
    try:
        return registry.get(name, tenant)
    except KeyError:
        print(f"error: no template named {name!r}; known: {registry.names()}", file=sys.stderr)
        return None


def cmd_show(args: argparse.Namespace) -> int:
    _, registry = _registry(args)
    prompt = _get(registry, args.name, args.tenant)
    if prompt is None:
        return EXIT_CONFIG
    print(f"id:          {prompt.id}")
    print(f"description: {prompt.description}")
    print(f"variables:   {', '.join(prompt.variables)}")
    print(f"from:        {_origin(prompt, args.tenant, registry)} ({prompt.source})")
    print(f"cases:       {'; '.join(c.name for c in prompt.cases) or '(none)'}")
    print("template:")
    print(prompt.text, end="" if prompt.text.endswith("\n") else "\n")
    return 0


def _variables(args: argparse.Namespace) -> dict[str, Any] | None:
    variables: dict[str, Any] = {}
    if args.vars:
        try:
            loaded = json.loads(Path(args.vars).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: --vars {args.vars}: {exc}", file=sys.stderr)
            return None
        if not isinstance(loaded, dict):
            print(f"error: --vars {args.vars}: the file must hold a JSON object", file=sys.stderr)
            return None
        variables.update(loaded)
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --var {item!r}: use key=value", file=sys.stderr)
            return None
        variables[key] = value
    return variables


def cmd_render(args: argparse.Namespace) -> int:
    _, registry = _registry(args)
    prompt = _get(registry, args.name, args.tenant)
    variables = _variables(args)
    if prompt is None or variables is None:
        return EXIT_CONFIG
    print(prompt.render(**variables))  # a PromptError is reported by main, naming the template
    return 0


def counter(settings: Settings) -> tuple[TokenCounter, str]:
    """The gateway's history token counter (the smallest-context deployment's tokenizer when its
    materialised folder is in the cache, else ~4 characters a token) and what it is."""
    from inferstack.models.materialize import model_dir
    from inferstack.serving.runtime import token_counter

    models = CacheLayout(settings.cache_dir).models
    dirs = {m.name: model_dir(models, m) for m in settings.models if isinstance(m.serve, LocalVllm)}
    smallest = min(settings.models, key=lambda m: m.max_context)
    folder = dirs.get(smallest.name)
    local = folder is not None and (folder / "tokenizer.json").is_file()
    how = f"{smallest.name} tokenizer" if local else "~4 characters a token (`inferstack models pull` first)"
    return token_counter(settings, dirs), how


def cmd_test(args: argparse.Namespace) -> int:
    settings, registry = _registry(args)
    count, how = counter(settings)
    chosen = [(t, p) for t, p in registry.all() if args.tenant is None or t in (None, args.tenant)]
    results = run_cases(chosen, count)
    rows = [("template", "tenant", "case", "tokens", "result")]
    for r in results:
        verdict = "ok" if r.passed else "FAIL: " + "; ".join(r.failures)
        rows.append(
            (r.prompt_id, r.tenant or "*", r.case, "-" if r.tokens is None else str(r.tokens), verdict)
        )
    print(_table(rows))
    failed = sum(not r.passed for r in results)
    print(f"{len(results)} cases ({how}): {len(results) - failed} ok, {failed} failing")
    return 1 if failed else 0


def add_parser(sub: Any) -> None:
    prompts = sub.add_parser(
        "prompts",
        help="prompt templates: list, show, render, run their regression cases",
        description="The versioned prompt templates the gateway loads: shipped defaults, replaced "
        "by the files of prompts.directory (default/ for every tenant, <tenant>/ for one).",
    )
    actions = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, func: Any, *, tenant_help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--tenant", help=tenant_help)
        parser.add_argument("--config", help="YAML config file")
        parser.set_defaults(func=func)
        return parser

    action("list", "list the templates (id, variables, file)", cmd_list,
           tenant_help="as this tenant sees them (its overrides win)")  # fmt: skip
    show = action("show", "a template's metadata and Jinja2 text", cmd_show,
                  tenant_help="this tenant's version")  # fmt: skip
    show.add_argument("name")
    render = action("render", "render a template with variables (stdout)", cmd_render,
                    tenant_help="this tenant's version")  # fmt: skip
    render.add_argument("name")
    render.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="a string variable")
    render.add_argument("--vars", metavar="FILE.json", help="variables from a JSON object (--var wins)")
    action("test", "run every template's regression cases; exit 1 when one fails", cmd_test,
           tenant_help="only the defaults and this tenant's overrides")  # fmt: skip
