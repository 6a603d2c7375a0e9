"""Reading template files: YAML with the position of every value, the fields checked by pydantic,
the Jinja2 text compiled and its variables checked against the declared ones.

Every error is a PromptError phrased `{file}:{line}: template '{name}': {what}`, the line being
the line of the YAML file (for the Jinja2 text: the line inside the block scalar).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import yaml
from jinja2 import meta, nodes
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inferstack.prompts.template import Case, Expect, Prompt, PromptError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


S = TypeVar("S", bound=_Spec)


class ExpectSpec(_Spec):
    contains: list[str] = []
    not_contains: list[str] = []
    max_tokens: int | None = Field(default=None, ge=1)


class CaseSpec(_Spec):
    name: str = Field(min_length=1)
    variables: dict[str, Any] = {}
    expect: ExpectSpec = ExpectSpec()


class TemplateSpec(_Spec):
    """A shipped template (or a `default/` file): every field present."""

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    description: str
    variables: list[str]
    template: str
    cases: list[CaseSpec]

    @field_validator("variables")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v.isidentifier()]
        if bad:
            raise ValueError(f"not identifiers: {bad}")
        if len(set(value)) != len(value):
            raise ValueError("each variable at most once")
        return value


class OverrideSpec(_Spec):
    """An override: the template it replaces by name, and only the fields it changes."""

    name: str = Field(pattern=NAME_PATTERN)
    version: int | None = Field(default=None, ge=1)
    description: str | None = None
    template: str | None = None
    cases: list[CaseSpec] | None = None


@dataclass(frozen=True)
class Document:
    """One template file: its mapping and the YAML nodes that say where each value is."""

    path: Path
    data: dict[str, Any]
    node: yaml.MappingNode

    @property
    def name(self) -> str:
        name = self.data.get("name")
        return name if isinstance(name, str) else self.path.stem

    def line(self, *loc: str | int) -> int:
        """The 1-based line of the value at `loc` (its nearest enclosing value when absent)."""
        node: yaml.Node = self.node
        for key in loc:
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == str(key)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def error(self, what: str, *loc: str | int, line: int | None = None) -> PromptError:
        at = line if line is not None else self.line(*loc)
        return PromptError(f"{self.path}:{at}: template '{self.name}': {what}")

    def template_line(self) -> int:
        """The file line of the template text's first line (after a block scalar's `|`)."""
        node = next((v for k, v in self.node.value if k.value == "template"), None)
        if node is None:
            return self.line()
        line: int = node.start_mark.line
        return line + (2 if getattr(node, "style", None) in ("|", ">") else 1)


def read(path: Path) -> Document:
    """Parse one file; bad YAML, a non-mapping top level or a repeated key is a PromptError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}:1: template '{path.stem}': cannot read ({exc})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise PromptError(f"{path}:{line}: template '{path.stem}': not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise PromptError(f"{path}:1: template '{path.stem}': not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        line = node.start_mark.line + 1 if node is not None else 1
        raise PromptError(f"{path}:{line}: template '{path.stem}': the top level must be a mapping")
    document = Document(path, data, node)
    _check_unique_keys(document, node)
    return document


def _check_unique_keys(document: Document, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                raise document.error(f"key '{key.value}' appears twice", line=key.start_mark.line + 1)
            seen.add(key.value)
            _check_unique_keys(document, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_unique_keys(document, item)


def _validate(document: Document, spec: type[S]) -> S:
    try:
        return spec.model_validate(document.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
        where = ".".join(str(p) for p in loc) or "(top level)"
        raise document.error(f"{where}: {first['msg']}", *loc) from None


def _first_use(ast: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines) if lines else 1


def compile_text(
    document: Document, env: jinja2.Environment, text: str, variables: Sequence[str], *, base: str | None
) -> jinja2.Template:
    """Compile once; every variable the text reads must be declared and every declared one
    read. `base` names the default template when `document` is an override of it."""
    first = document.template_line()
    try:
        ast = env.parse(text)
        used = meta.find_undeclared_variables(ast) - set(env.globals)
        compiled = env.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        raise document.error(
            f"syntax error in template: {exc.message}", line=first + exc.lineno - 1
        ) from None
    undeclared = sorted(used - set(variables), key=lambda v: (_first_use(ast, v), v))
    if undeclared:
        name = undeclared[0]
        line = first + _first_use(ast, name) - 1
        if base is not None:
            what = f"variable '{name}' is not declared by the default template (it has {list(variables)})"
        else:
            what = f"variable '{name}' is used but not declared in `variables`"
        raise document.error(what, line=line)
    for index, name in enumerate(variables):
        if name not in used:
            if base is not None:
                raise document.error(f"variable '{name}' of the default template is never used", "template")
            raise document.error(f"variable '{name}' is declared but never used", "variables", index)
    return compiled


def _cases(document: Document, specs: Sequence[CaseSpec], variables: Sequence[str]) -> tuple[Case, ...]:
    names: set[str] = set()
    for index, case in enumerate(specs):
        if case.name in names:
            raise document.error(f"case '{case.name}' appears twice", "cases", index, "name")
        names.add(case.name)
        unknown = [v for v in case.variables if v not in variables]
        if unknown:
            what = f"case '{case.name}': variable '{unknown[0]}' is not declared"
            raise document.error(what, "cases", index, "variables", unknown[0])
        missing = [v for v in variables if v not in case.variables]
        if missing:
            what = f"case '{case.name}': missing variable(s) {missing}"
            raise document.error(what, "cases", index, "variables")
    return tuple(
        Case(c.name, dict(c.variables), Expect(tuple(c.expect.contains), tuple(c.expect.not_contains),
                                               c.expect.max_tokens))
        for c in specs
    )  # fmt: skip


def build_default(document: Document, env: jinja2.Environment) -> Prompt:
    """A complete template from a shipped file."""
    spec = _validate(document, TemplateSpec)
    compiled = compile_text(document, env, spec.template, spec.variables, base=None)
    cases = _cases(document, spec.cases, spec.variables)
    variables = tuple(spec.variables)
    return Prompt(
        spec.name, spec.version, spec.description, variables, document.path, spec.template, cases, compiled
    )


def build_override(document: Document, env: jinja2.Environment, defaults: Mapping[str, Prompt]) -> Prompt:
    """The default template named by `document` with the fields the file sets replaced."""
    if "variables" in document.data:
        raise document.error(
            "an override cannot set `variables` (callers pass the default template's)", "variables"
        )
    spec = _validate(document, OverrideSpec)
    base = defaults.get(spec.name)
    if base is None:
        raise document.error(
            f"no template named '{spec.name}' to override; known: {sorted(defaults)}", "name"
        )
    text, compiled = base.text, base.compiled
    if spec.template is not None:
        text = spec.template
        compiled = compile_text(document, env, text, base.variables, base=base.name)
    cases = base.cases if spec.cases is None else _cases(document, spec.cases, base.variables)
    return Prompt(
        base.name,
        base.version if spec.version is None else spec.version,
        base.description if spec.description is None else spec.description,
        base.variables,
        document.path,
        text,
        cases,
        compiled,
    )


def read_folder(folder: Path) -> list[Document]:
    """Every `*.yaml` file of `folder`, in name order."""
    return [read(path) for path in sorted(folder.glob("*.yaml")) if path.is_file()]
