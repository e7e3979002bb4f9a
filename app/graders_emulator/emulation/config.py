"""The emulator's YAML config (canned answers, faults, defaults): loading and validation with line numbers.

Format:

    defaults: {seed: 7, retry_after_ms: 10, hang_ms: 300000, latency_ms: 0, usage: {...}}
    models:   [ModelRule, ...]   # canned answers, `kind: model` implied
    faults:   [FaultRule, ...]   # injected failures, `kind: fault` implied
    sampling: [SamplingRule, ...]  # canned samples of `completions` eval runs, `kind: sampling` implied

Every problem is reported as `<file>:<line>: <what is wrong>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graders_emulator.emulation.rules import Defaults, FaultRule, ModelRule, SamplingRule

Loc = tuple[str | int, ...]
# Nodes the loaded YAML may expand to, aliases counted at every use: a 453-byte "billion laughs"
# expands to 9^9 nodes and took the server 117 s; a config of a thousand rules is ~50,000 nodes.
MAX_YAML_NODES = 100_000


class ConfigError(ValueError):
    """The config cannot be used; `problems` are `file:line: message` strings."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class ConfigFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Defaults()
    models: list[ModelRule] = Field(default_factory=list)
    faults: list[FaultRule] = Field(default_factory=list)
    sampling: list[SamplingRule] = Field(default_factory=list)


@dataclass(frozen=True)
class EmulatorConfig:
    """A validated config."""

    defaults: Defaults = field(default_factory=Defaults)
    models: tuple[ModelRule, ...] = ()
    faults: tuple[FaultRule, ...] = ()
    sampling: tuple[SamplingRule, ...] = ()


def load_config(path: Path) -> EmulatorConfig:
    """Read and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror or exc}"]) from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<config>") -> EmulatorConfig:
    """Validate config text; raises ConfigError naming the line of each problem."""
    data, lines = _compose(text, source)
    if data is None:
        return EmulatorConfig()
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: the config must be a mapping with defaults, models and faults"])
    try:
        parsed = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, lines, source)) from None
    problems = [_at(source, lines, loc, msg) for loc, msg in semantic_problems(parsed.models, ("models",))]
    if problems:
        raise ConfigError(problems)
    return EmulatorConfig(parsed.defaults, tuple(parsed.models), tuple(parsed.faults), tuple(parsed.sampling))


def semantic_problems(rules: Sequence[ModelRule], base: Loc = ()) -> list[tuple[Loc, str]]:
    """Answers that cannot fit their grader: a score outside its range, a label not in its labels."""
    problems = []
    for index, rule in enumerate(rules):
        problem = _rule_problem(rule)
        if problem is not None:
            problems.append(((*base, index, "answer", problem[0]), problem[1]))
    return problems


def _rule_problem(rule: ModelRule) -> tuple[str, str] | None:
    pin, answer = rule.grader, rule.answer
    if pin is None:
        return None
    who = f"grader '{pin.name or rule.match.grader_name or '*'}'"
    bounds = pin.effective_range()
    if bounds is not None and bounds[0] >= bounds[1]:
        return "score", f"the range [{bounds[0]:g}, {bounds[1]:g}] of {who} is empty"
    if answer.score is not None and bounds is not None and not bounds[0] <= answer.score <= bounds[1]:
        return (
            "score",
            f"canned score {answer.score:g} is outside the range [{bounds[0]:g}, {bounds[1]:g}] of {who}",
        )
    if answer.label is not None and pin.labels is not None and answer.label not in pin.labels:
        labels = ", ".join(repr(label) for label in pin.labels)
        return "label", f"canned label {answer.label!r} is not one of the labels [{labels}] of {who}"
    return None


# ---------------------------------------------------------------------------------------------
# YAML with line numbers


def _compose(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError([f"{source}:1: invalid YAML: nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(
            [f"{source}:{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]
        ) from None
    if node is None:
        return None, {}
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}
    try:
        over = _first_over(node, MAX_YAML_NODES)
        if over is not None:
            raise ConfigError([_too_many(source, over)])
        return _build(node, (), lines, source, [MAX_YAML_NODES]), lines
    except RecursionError:
        raise ConfigError([f"{source}:1: invalid YAML: nested too deeply"]) from None


def _too_many(source: str, node: yaml.Node) -> str:
    return (
        f"{source}:{node.start_mark.line + 1}: the YAML expands to more than {MAX_YAML_NODES} "
        "values (aliases counted at every use)"
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _first_over(root: yaml.Node, limit: int) -> yaml.Node | None:
    """The node at which `_build` would pass `limit` values, or None; without expanding anything.

    An alias is the very node of its anchor, so the composed document is a graph of the text's
    size: each node's expanded size is counted once (capped at limit + 1; an alias cycle is
    endless). The 453-byte bomb that expands to 9^9 values is refused in microseconds, where
    building up to the limit cost 0.25 s of GIL-holding Python per request (issue 10, the soak).
    Then one walk down finds the node where `_build`'s depth-first count would pass the limit.
    """
    cap = limit + 1
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is None:
            sizes[id(node)] = cap  # met again while being counted: an alias cycle
            known = sizes[id(node)] = min(cap, 1 + sum(size(child) for child in _children(node)))
        return known

    if size(root) <= limit:
        return None
    left, node = limit, root
    while True:
        left -= 1  # `_build` counts the node itself first, then its children in order
        if left < 0:
            return node
        for child in _children(node):
            if size(child) > left:
                node = child
                break
            left -= size(child)
        else:
            return node  # unreachable: the sizes say the limit is passed below this node


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int], source: str, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:  # `_first_over` refused such a document already; kept as the build's own bound
        raise ConfigError([_too_many(source, node)])
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, loc, {}, source, budget)
            if key in result:
                raise ConfigError([f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}"])
            lines[(*loc, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*loc, key), lines, source, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, child in enumerate(node.value):
            lines[(*loc, index)] = child.start_mark.line + 1
            items.append(_build(child, (*loc, index), lines, source, budget))
        return items
    return yaml.constructor.SafeConstructor().construct_object(node)


def _line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of the deepest part of `loc` the file has (pydantic adds union tags it lacks)."""
    found: Loc = ()
    for part in loc:
        if (*found, part) in lines:
            found = (*found, part)
    return lines.get(found, 1)


def _at(source: str, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    return f"{source}:{_line(lines, loc)}: {message}"


def _problems(exc: ValidationError, lines: dict[Loc, int], source: str) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        problems.append(_at(source, lines, loc, describe_error(error)))
    return list(dict.fromkeys(problems))


def describe_error(error: Any) -> str:
    """One pydantic error in words a config author reads."""
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    where = dotted(loc)
    if error["type"] == "extra_forbidden":
        return f"unknown key {loc[-1]!r} in {dotted(loc[:-1]) or 'the top level'}"
    if error["type"] == "missing":
        return f"{where}: missing required key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"].endswith("_type") or error["type"].endswith("_parsing"):
        message += f" (got {error.get('input')!r})"
    return f"{where}: {message}" if where else message


def _is_union_tag(part: Any) -> bool:
    # pydantic names union members in locations, e.g. `list[str]` or `function-after[...]`.
    return isinstance(part, str) and (
        "[" in part or part in ("model", "fault", "sampling", "int", "str", "float", "bool")
    )


def dotted(loc: Sequence[Any]) -> str:
    """('models', 0, 'answer') -> 'models[0].answer'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
