"""Builds the frozen config dataclasses from YAML nodes, led by the fields' type hints.

Nothing here knows a config key by name: a new field in a check works as soon as its
dataclass has the type hint, and the keys under `checks:` are the probe kinds of the registry
the Builder was given (each built as its `ProbeKind.check`). Known types: str, int, float,
bool, Literal[...], X | None, tuple[X, ...], dict[str, X], nested dataclasses, Path (relative
to the config file's directory), the unit types Seconds, Bytes, BitsPerSecond and Secret, and
OfficeHours. A field typed Secret may also be given as `<field>_file: /path`, read from that
file.

A value that cannot be built records a Problem and raises `_Invalid`; the enclosing mapping
carries on with its other keys (using the field's default), and a list drops the bad item,
so one pass finds every problem. `failed` keeps the paths that were replaced that way, so
later rules do not report a consequence of a problem already reported.

Keys starting with `x-` are skipped: they hold YAML anchors that checks merge in with `<<:`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import stat
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from linkwatch.agent.config import units
from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.agent.config.document import position
from linkwatch.agent.config.errors import KeyPath, Problem, dotted
from linkwatch.agent.config.interpolation import MalformedReference, UnsetVariable, expand
from linkwatch.agent.config.schema import Checks
from linkwatch.collector.keys import key_name
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds, Secret

_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


class _Invalid(Exception):
    """A value could not be built; its problems are already recorded."""


# What a secret that was not needed, and could not be read, holds (never sent anywhere).
UNREAD_SECRET = Secret("(not read)")


@dataclass
class Builder:
    """One build of one file: the problems found and where every value came from."""

    source: Path
    base_dir: Path                    # relative paths in the config are relative to this
    environ: Mapping[str, str]
    probes: tuple[ProbeKind, ...] = ()   # the kinds `checks:` may hold
    # False for commands that send nothing (`--local` queries, `spool status`): a secret that
    # cannot be read (a root-only file, an unset variable) becomes UNREAD_SECRET instead
    # of a problem, so an IT person without access to the secrets can still ask questions.
    secrets_required: bool = True
    problems: list[Problem] = field(default_factory=list)
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    failed: set[KeyPath] = field(default_factory=set)
    where: dict[int, KeyPath] = field(default_factory=dict)    # id(dataclass built) → path
    key_marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    _hints: dict[type, dict[str, Any]] = field(default_factory=dict, repr=False)

    def build(self, node: Node, hint: Any, at: KeyPath) -> Any:
        """The value of type `hint` that `node` describes; raises _Invalid after reporting."""
        self.marks[at] = position(node)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            if _is_null(node) and len(inner) < len(args):
                return None
            if len(inner) == 1:
                return self.build(node, inner[0], at)
            if all(dataclasses.is_dataclass(a) for a in inner):
                return self._variant(node, inner, at)
            raise TypeError(f"unsupported config type {hint} at {dotted(at)}")
        if origin is Literal:
            return self._literal(node, args, at)
        if origin is tuple:
            return self._sequence(node, args[0], at)
        if origin is dict:
            return self._mapping(node, args[1], at)
        if hint is Checks:
            return self._checks(node, at)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.build_dataclass(node, hint, at)
        if hint is Secret:
            return self._secret(node, at)
        convert = _SCALARS.get(hint)
        if convert is None:
            raise TypeError(f"unsupported config type {hint} at {dotted(at)}")
        text = self._text(node, at, _EXPECTED[hint])
        try:
            value = convert(text)
        except units.UnitError as e:
            raise self._fail(node, at, f"expected {e.expected}, got {text!r}", e.hint) from e
        except ValueError as e:
            if hint is OfficeHours:
                raise self._fail(node, at, f"expected {_EXPECTED[hint]}: {e}") from e
            raise self._fail(node, at, f"expected {_EXPECTED[hint]}, got {text!r}") from e
        return self._path(value) if hint is Path else value

    def build_root(self, node: MappingNode, cls: type) -> Any | None:
        """The whole file as `cls`, or None when it could not be built (see `problems`)."""
        try:
            return self.build_dataclass(node, cls, ())
        except _Invalid:
            return None

    def build_dataclass(self, node: Node, cls: type, at: KeyPath) -> Any:
        if not isinstance(node, MappingNode):
            keys = ", ".join(_keys(cls))
            raise self._fail(node, at, f"expected a mapping with keys {keys}, got {_kind(node)}")
        hints = self._hints.get(cls) or self._hints.setdefault(cls, typing.get_type_hints(cls))
        # by the key as written (a field may be spelled differently: `for` is a keyword)
        fields = {key_name(f): f for f in dataclasses.fields(cls) if _is_key(f)}
        hint_of = {name: hints[f.name] for name, f in fields.items()}
        file_keys = {f"{n}_file": n for n in fields if _is_secret(hint_of[n])}
        values: dict[str, Any] = {}
        for key_node, value_node in _last_of_each_key(node):
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key.startswith("x-"):
                continue              # free for YAML anchors: `x-snmp: &snmp {...}`
            name = key if key in fields else file_keys.get(key or "")
            if key is None or name is None:
                self._unknown_key(key_node, key, [*fields, *file_keys], at)
                continue
            if name in values or (*at, name) in self.failed:
                self.problems.append(self._problem(
                    key_node, (*at, key), f"both '{name}' and '{name}_file' are set",
                    f"keep one: '{name}' inline or '{name}_file' with its path"))
                continue
            if key == name and _is_null(value_node) and _has_default(fields[name]) \
                    and not _is_optional(hint_of[name]):
                continue              # `checks:` with everything under it commented out
            self.key_marks[(*at, name)] = position(key_node)
            try:
                if key == name:
                    values[name] = self.build(value_node, hint_of[name], (*at, name))
                else:
                    values[name] = self._secret_file(value_node, (*at, key))
            except _Invalid:
                self.failed.add((*at, name))
        missing = False
        for name, f in fields.items():
            if name in values:
                continue
            if (*at, name) in self.failed:
                missing = missing or not _has_default(f)   # reported where it failed
                continue
            if not _has_default(f):
                alt = f" (or '{name}_file')" if name in file_keys.values() else ""
                self.problems.append(self._problem(
                    node, (*at, name), f"missing required key '{name}'{alt}",
                    f"add `{name}:` to this mapping"))
                missing = True
            elif f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(
                    hint_of[name]):
                # build defaults through the same path, so their relative paths resolve too
                values[name] = self.build_dataclass(_empty_mapping(node), hint_of[name],
                                                    (*at, name))
            elif hint_of[name] is Path and isinstance(f.default, Path):
                values[name] = self._path(f.default)
        if missing:
            raise _Invalid
        try:
            built = cls(**{fields[name].name: value for name, value in values.items()})
        except (TypeError, ValueError) as e:
            if any((*at, name) in self.failed for name in fields):
                raise _Invalid from e     # most likely a consequence of what was reported
            raise self._fail(node, at, str(e)) from e
        self.where[id(built)] = at
        return built

    def _variant(self, node: Node, choices: list[type], at: KeyPath) -> Any:
        """One of several dataclasses, chosen by the value of the key they all declare as a
        Literal (their `type:`)."""
        hints = [self._hints.get(c) or self._hints.setdefault(c, typing.get_type_hints(c))
                 for c in choices]
        tags = [name for name in hints[0] if all(
            typing.get_origin(h.get(name)) is Literal for h in hints)]
        if len(tags) != 1:
            raise TypeError(f"config types {choices} at {dotted(at)} share no Literal key")
        tag = tags[0]
        by_value = {str(v): c for c, h in zip(choices, hints, strict=True)
                    for v in typing.get_args(h[tag])}
        if not isinstance(node, MappingNode):
            raise self._fail(node, at, f"expected a mapping with `{tag}:` one of "
                             f"{_quoted(tuple(by_value))}, got {_kind(node)}")
        written = next((v for k, v in _last_of_each_key(node)
                        if isinstance(k, ScalarNode) and k.value == tag), None)
        if written is None:
            self.problems.append(self._problem(
                node, (*at, tag), f"missing required key '{tag}'",
                f"add `{tag}:` one of {_quoted(tuple(by_value))}"))
            raise _Invalid
        value = self._literal(written, tuple(by_value), (*at, tag))
        return self.build_dataclass(node, by_value[value], at)

    # -- containers -------------------------------------------------------------------

    def _checks(self, node: Node, at: KeyPath) -> Checks:
        """`checks:`: one key per probe kind, a list of checks or (for a single-check kind
        such as host) one mapping."""
        if _is_null(node):
            return Checks()
        if not isinstance(node, MappingNode):
            kinds = ", ".join(p.kind for p in self.probes)
            raise self._fail(node, at, f"expected a mapping with keys {kinds}, "
                             f"got {_kind(node)}")
        by_kind = {p.kind: p for p in self.probes}
        written: dict[str, tuple[Any, ...]] = {}
        for key_node, value_node in _last_of_each_key(node):
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key.startswith("x-"):
                continue
            probe = by_kind.get(key or "")
            if probe is None:
                self._unknown_key(key_node, key, list(by_kind), at)
                continue
            self.key_marks[(*at, probe.kind)] = position(key_node)
            hint = (types.GenericAlias(tuple, (probe.check, ...)) if probe.many
                    else probe.check | None)     # tuple[Check, ...] or Check | None
            try:
                value = self.build(value_node, hint, (*at, probe.kind))
            except _Invalid:
                self.failed.add((*at, probe.kind))
                continue
            checks = value if probe.many else ((value,) if value is not None else ())
            if checks:
                written[probe.kind] = checks
        return Checks(written=written)

    def _sequence(self, node: Node, item: Any, at: KeyPath) -> tuple[Any, ...]:
        if not isinstance(node, SequenceNode):
            if _is_null(node):
                return ()
            raise self._fail(node, at, f"expected a list, got {_kind(node)}",
                             "write the items one per line, each starting with `- `")
        built = []
        for i, child in enumerate(node.value):
            try:
                built.append(self.build(child, item, (*at, i)))
            except _Invalid:
                self.failed.add((*at, i))
        return tuple(built)

    def _mapping(self, node: Node, value: Any, at: KeyPath) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise self._fail(node, at, f"expected a mapping, got {_kind(node)}")
        built: dict[str, Any] = {}
        for key_node, child in node.value:
            key = self._text(key_node, at, "a string key")
            try:
                built[key] = self.build(child, value, (*at, key))
            except _Invalid:
                self.failed.add((*at, key))
        return built

    def _literal(self, node: Node, choices: tuple[Any, ...], at: KeyPath) -> Any:
        text = self._text(node, at, "one of " + _quoted(choices))
        for choice in choices:
            if text == str(choice):
                return choice
        close = difflib.get_close_matches(text, [str(c) for c in choices], n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else None
        raise self._fail(node, at, f"expected one of {_quoted(choices)}, got {text!r}", hint)

    # -- secrets ----------------------------------------------------------------------

    def _secret(self, node: Node, at: KeyPath) -> Secret:
        if not self.secrets_required:
            try:
                return Secret(expand(node.value, self.environ))
            except (UnsetVariable, MalformedReference, AttributeError, TypeError):
                return UNREAD_SECRET
        secret = self._text(node, at, "a string", secret=True)
        if not secret:
            raise self._fail(node, at, "the secret is empty",
                             "remove the key if none is needed")
        return Secret(secret)

    def _secret_file(self, node: Node, at: KeyPath) -> Secret:
        path = self._path(Path(self._text(node, at, "a file path")))
        try:
            secret = _read_small_file(path).decode("utf-8").rstrip("\r\n")
        except _NotASecretFile as e:
            raise self._fail(node, at, f"secret file {path} {e}",
                             "point it at a file holding the secret alone") from e
        except OSError as e:
            if not self.secrets_required:
                return UNREAD_SECRET
            hint = ("make it readable by the user the agent runs as"
                    if isinstance(e, PermissionError) else
                    "create it with the secret alone on one line, or correct the path "
                    "(a relative path starts at the config file's directory)")
            raise self._fail(node, at, f"cannot read secret file {path}: {e.strerror}",
                             hint) from e
        except UnicodeDecodeError as e:
            raise self._fail(node, at, f"secret file {path} is not UTF-8 text") from e
        if not secret:
            raise self._fail(node, at, f"secret file {path} is empty")
        return Secret(secret)

    # -- scalars ----------------------------------------------------------------------

    def _text(self, node: Node, at: KeyPath, expected: str, *, secret: bool = False) -> str:
        """The scalar's text after `${VAR}` expansion; a list, mapping or null is refused."""
        if not isinstance(node, ScalarNode) or _is_null(node):
            raise self._fail(node, at, f"expected {expected}, got {_kind(node)}")
        try:
            return expand(node.value, self.environ)
        except UnsetVariable as e:
            other = f", use '{at[-1]}_file: /path'" if secret else ""
            raise self._fail(
                node, at, f"environment variable {e.name} is not set",
                f"set it in the agent's environment{other}, or give a default: "
                f"${{{e.name}:-value}}") from e
        except MalformedReference as e:
            raise self._fail(node, at, f"malformed variable reference {e}" if not secret
                             else "malformed variable reference",
                             "write ${NAME} or ${NAME:-default}; $${ for a literal ${") from e

    def _path(self, path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else self.base_dir / path

    # -- problems ---------------------------------------------------------------------

    def _unknown_key(self, key_node: Node, key: str | None, valid: list[str],
                     at: KeyPath) -> None:
        if key is None:
            self.problems.append(self._problem(key_node, at, "a key must be a plain string"))
            return
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "known keys here: " + ", ".join(valid)
        self.problems.append(self._problem(key_node, (*at, key), f"unknown key '{key}'", hint))

    def _problem(self, node: Node, at: KeyPath, message: str, hint: str | None = None) -> Problem:
        where = position(node)
        if isinstance(node, (MappingNode, SequenceNode)):
            # a problem with a whole block is shown at its key, not at its first item
            # (for a missing key, `at` ends in its name and the block is the one holding it)
            block = at if at in self.key_marks or not at or isinstance(at[-1], int) else at[:-1]
            where = self.key_marks.get(block, where)
        return Problem(self.source, message, *where, dotted(at), hint)

    def _fail(self, node: Node, at: KeyPath, message: str, hint: str | None = None) -> _Invalid:
        self.problems.append(self._problem(node, at, message, hint))
        return _Invalid()


SECRET_FILE_MAX = 64 * 1024       # a token or a key, not a device or a log


class _NotASecretFile(Exception):
    """The path names something that cannot hold a secret (a device, a FIFO, a big file)."""


def _read_small_file(path: Path) -> bytes:
    """The bytes of a regular file of at most SECRET_FILE_MAX; /dev/zero, a FIFO or a log
    named by mistake is refused instead of read for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise _NotASecretFile("is not a regular file")
        data = f.read(SECRET_FILE_MAX + 1)
    if len(data) > SECRET_FILE_MAX:
        raise _NotASecretFile(f"is larger than {SECRET_FILE_MAX // 1024} KiB")
    return data


def _last_of_each_key(node: MappingNode) -> list[tuple[Node, Node]]:
    """The mapping's pairs, the last one of each key: a mapping's own keys override those
    merged in with `<<:`. (Duplicates written in the file are reported by document.py.)"""
    last: dict[Any, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode):
            if key_node.tag == _MERGE:
                continue              # a bad `<<:`, already reported
            last.pop(key_node.value, None)
            last[key_node.value] = (key_node, value_node)
        else:
            last[id(key_node)] = (key_node, value_node)
    return sorted(last.values(), key=lambda pair: position(pair[0]))


def _is_key(f: dataclasses.Field[Any]) -> bool:
    return f.init and not f.metadata.get("internal", False)


def _keys(cls: type) -> list[str]:
    return [key_name(f) for f in dataclasses.fields(cls) if _is_key(f)]


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _is_secret(hint: Any) -> bool:
    return hint is Secret or Secret in typing.get_args(hint)


def _is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _empty_mapping(near: Node) -> MappingNode:
    return MappingNode("tag:yaml.org,2002:map", [], near.start_mark, near.end_mark)


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "nothing (null)" if _is_null(node) else "a value"


def _quoted(choices: tuple[Any, ...]) -> str:
    return ", ".join(f"'{c}'" for c in choices)


def _to_bool(text: str) -> bool:
    # YAML 1.1 spellings, as PyYAML reads them; also after `${VAR}` expansion
    word = text.strip().lower()
    if word in ("true", "yes", "on", "false", "no", "off"):
        return word in ("true", "yes", "on")
    raise ValueError(text)


def _to_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_SCALARS: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: lambda text: int(text.strip()),
    float: _to_float,
    bool: _to_bool,
    Path: Path,
    Seconds: units.parse_duration,
    Bytes: units.parse_size,
    BitsPerSecond: units.parse_rate,
    OfficeHours: OfficeHours.parse,
}

_EXPECTED = {
    str: "a string", int: "a whole number", float: "a number", bool: "true or false",
    Path: "a file path", Seconds: "a duration like 60s", Bytes: "a size like 256MiB",
    BitsPerSecond: "a rate like 8Mbps", OfficeHours: "hours like 07:30-17:00",
}
