"""The config's key tables, from the fields themselves: type from the type hint, default from
the field's default, meaning and limits from its collector.keys.key() metadata.

    sections()                      # ("top", Config), ("agent", AgentSettings), ...
    key_table("checks.ping[]")      # the Markdown table of docs/configuration.md

A section is named by its key path as error messages write it, with `[]` for a list:
`agent.spool`, `sites[].capacity`, `checks.snmp[].v3`; the file's top level is `top`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.agent.config.schema import Checks, Config
from linkwatch.agent.config.units import written
from linkwatch.collector.keys import declared, key_name
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.registry import BUILTIN
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds, Secret

TOP = "top"

_TYPE_NAMES: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean", Path: "path",
    Seconds: "duration", Bytes: "size", BitsPerSecond: "rate", Secret: "secret",
    OfficeHours: "hours (`HH:MM-HH:MM`)",
}


class UndocumentedKey(TypeError):
    """A config field declared without collector.keys.key(): it has no doc to show."""


def sections(probes: tuple[ProbeKind, ...] = BUILTIN) -> tuple[tuple[str, type], ...]:
    """Every mapping a config file may hold, by key path, top level first."""
    return tuple(_walk(TOP, Config, probes))


def key_table(section: str, probes: tuple[ProbeKind, ...] = BUILTIN) -> str:
    """The Markdown table of one section's keys: key, type, default, meaning."""
    cls = dict(sections(probes)).get(section)
    if cls is None:
        known = ", ".join(name for name, _ in sections(probes))
        raise ValueError(f"no config section {section!r}; known: {known}")
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    if cls is Checks:
        for probe in probes:
            lines.append(_row(probe.kind, "list" if probe.many else "mapping", "none",
                              _kind_meaning(probe)))
        return "\n".join(lines) + "\n"
    hints = typing.get_type_hints(cls)
    for f in _keys(cls):
        hint = hints[f.name]
        meaning = f.metadata["doc"]
        limits = _limits(f.metadata, _plain(hint))
        if limits:
            meaning += f"; {limits}"
        if _plain(hint) is Secret:
            meaning += f"; or `{key_name(f)}_file:` with the path of a file holding it"
        lines.append(_row(key_name(f), _type_name(hint, f.metadata.get("unit")),
                          _default(f, hint), meaning))
    return "\n".join(lines) + "\n"


def _walk(path: str, cls: type, probes: tuple[ProbeKind, ...]) -> Iterator[tuple[str, type]]:
    yield path, cls
    if cls is Checks:
        for probe in probes:
            yield from _walk(f"checks.{probe.kind}" + ("[]" if probe.many else ""),
                             probe.check, probes)
        return
    hints = typing.get_type_hints(cls)
    for f in _keys(cls):
        hint = _plain(hints[f.name])
        inner, listed = (typing.get_args(hint)[0], "[]") if typing.get_origin(hint) is tuple \
            else (hint, "")
        prefix = "" if path == TOP else f"{path}."
        if typing.get_origin(inner) in (types.UnionType, typing.Union):
            # one of several mappings, told apart by a Literal key (`type:` of outputs)
            for name, variant in variants(inner):
                yield from _walk(f"{prefix}{key_name(f)}{listed} ({name})", variant, probes)
        elif inner not in _TYPE_NAMES and (dataclasses.is_dataclass(inner) or inner is Checks):
            yield from _walk(f"{prefix}{key_name(f)}{listed}", typing.cast(type, inner),
                             probes)


def variants(union: Any) -> list[tuple[str, type]]:
    """The dataclasses of a union, each named by the value of the Literal key they all
    declare: [("type: influxdb", InfluxOutput), ...]."""
    choices = [a for a in typing.get_args(union) if a is not type(None)]
    hints = [typing.get_type_hints(c) for c in choices]
    tags = [name for name in hints[0]
            if all(typing.get_origin(h.get(name)) is Literal for h in hints)]
    if len(tags) != 1 or not all(dataclasses.is_dataclass(c) for c in choices):
        raise TypeError(f"config types {choices} share no Literal key to tell them apart")
    return [(f"{tags[0]}: {typing.get_args(h[tags[0]])[0]}", c)
            for c, h in zip(choices, hints, strict=True)]


def _keys(cls: type) -> list[dataclasses.Field[Any]]:
    keys = [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")]
    bare = [f.name for f in keys if not declared(f.metadata)]
    if bare:
        raise UndocumentedKey(f"{cls.__qualname__}: declare {', '.join(bare)} with "
                              "collector.keys.key(doc=...)")
    return keys


def _plain(hint: Any) -> Any:
    """`X | None` → X."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0] if len(inner) == 1 else hint
    return hint


def _type_name(hint: Any, unit: str | None) -> str:
    hint = _plain(hint)
    origin = typing.get_origin(hint)
    if origin is Literal:
        name = "choice: " + ", ".join(f"`{c}`" for c in typing.get_args(hint))
    elif origin is tuple:
        item = typing.get_args(hint)[0]
        name = f"list of {_TYPE_NAMES[item]}s" if item in (str, int) else "list"
    elif hint in _TYPE_NAMES:
        name = _TYPE_NAMES[hint]
    else:
        name = "mapping"          # a nested dataclass, or `checks:`
    return f"{name}, in {unit}" if unit else name


def _default(f: dataclasses.Field[Any], hint: Any) -> str:
    doc = f.metadata.get("default_doc")
    if doc:
        return doc
    if f.default_factory is not dataclasses.MISSING:
        return "the defaults below"
    if f.default is dataclasses.MISSING:
        return "(required)"
    value = f.default
    if value is None or value == ():
        return "none"
    if isinstance(value, Secret):
        value = value.reveal()
    shown = written(_plain(hint), value) if isinstance(value, int | float) else str(value)
    return f"`{shown}`" if shown else '`""`'


def _limits(metadata: typing.Mapping[str, Any], kind: type) -> str:
    low, high = metadata.get("low"), metadata.get("high")
    if metadata.get("positive"):
        return "more than zero"
    if low is not None and high is not None:
        return f"{written(kind, low)} to {written(kind, high)}"
    if low is not None:
        return f"at least {written(kind, low)}"
    if high is not None:
        return f"at most {written(kind, high)}"
    return ""


def _kind_meaning(probe: ProbeKind) -> str:
    if probe.many:
        return f"{probe.title}s, one item each: `checks.{probe.kind}[]` below"
    return (f"the {probe.title} check, `checks.{probe.kind}` below; `{probe.kind}: {{}}` "
            "enables it with the defaults")


def _row(name: str, type_name: str, default: str, meaning: str) -> str:
    cells = (f"`{name}`", type_name, default, meaning)
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
