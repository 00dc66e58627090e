"""A config file read as a tree of YAML nodes, which keep the line and column of every value.

Only the YAML *composer* runs: nodes are never turned into Python objects by PyYAML, so no tag
can construct anything, and the builder reports problems at the node where they are.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from linkwatch.agent.config.errors import ConfigError, KeyPath, Problem, dotted

_MERGE = "tag:yaml.org,2002:merge"
# libyaml's parser when PyYAML was built with it (about 5 times faster); same nodes and marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> tuple[MappingNode, list[Problem]]:
    """The top-level mapping of `path` and the problems that do not stop reading it.

    Raises ConfigError when there is nothing to build: unreadable file, YAML syntax error,
    empty file, or a top level that is not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        hint = "check the path given with -c or $LINKWATCH_CONFIG"
        raise ConfigError([Problem(path, f"cannot read the config: {e.strerror}",
                                   hint=hint)]) from e
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(path, f"not UTF-8 text (byte {e.start})",
                                   hint="save the file as UTF-8")]) from e
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        raise ConfigError([_syntax_problem(path, text, e)]) from e
    except yaml.reader.ReaderError as e:
        raise ConfigError([_character_problem(path, text, e)]) from e
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError([_nesting_problem(path, e)]) from e
    if root is None or (isinstance(root, ScalarNode) and root.tag.endswith(":null")):
        raise ConfigError([Problem(path, "the config is empty", hint=_START_HINT)])
    if not isinstance(root, MappingNode):
        raise ConfigError([Problem(path, "expected a mapping of keys at the top level",
                                   *position(root), hint=_START_HINT)])
    problems: list[Problem] = []
    try:
        _check_keys(root, (), path, problems, set())
    except RecursionError as e:
        raise ConfigError([_nesting_problem(path, e)]) from e
    return root, problems


_START_HINT = ("a config has `agent:`, `outputs:`, `sites:` and `checks:`; "
               "start from the shipped config.yaml or docs/examples/district.yaml")


def position(node: Node) -> tuple[int, int]:
    """1-based line and column where `node` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def _syntax_problem(path: Path, text: str, e: yaml.MarkedYAMLError) -> Problem:
    # Only the parser's own words: its snippet of the line could show a secret.
    mark = e.problem_mark or e.context_mark
    context = e.context
    if context and e.context_mark and mark and e.context_mark.line != mark.line:
        # e.g. an unclosed quote: where it opened is what the user needs to find
        context += f" (from line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    message = "YAML syntax error: " + "; ".join(m for m in (context, e.problem) if m)
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    lines = text.splitlines()
    row = lines[mark.line] if mark and mark.line < len(lines) else ""
    tabbed = mark is not None and "\t" in row[:mark.column + 1]
    first = e.context_mark.line if e.context_mark else (mark.line if mark else 0)
    near = lines[min(first, mark.line if mark else first):(mark.line + 1 if mark else 0)]
    if tabbed:
        hint = "indent with spaces: YAML does not allow tabs"
    elif "flow" in (e.context or "") and any(_unquoted_variable(r) for r in near):
        # `{token: ${X}}`: inside braces, YAML reads `{` of `${` as the start of a mapping
        hint = ('quote a value that holds ${…} inside {…}: token: "${LINKWATCH_INFLUX_TOKEN}" '
                "(or write the mapping as one key per line)")
    else:
        hint = "check the indentation and the quotes on this line or the one above"
    return Problem(path, message, line, column, hint=hint)


def _unquoted_variable(row: str) -> bool:
    """`${` outside quotes (and before any comment) on a line."""
    quote = None
    for i, char in enumerate(row):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            return False
        elif row.startswith("${", i):
            return True
    return False


def _character_problem(path: Path, text: str, e: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (a control character, often pasted from a device
    string): where it is, and which, without showing the line (it could hold a secret)."""
    before = text[:max(0, e.position)]
    line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    char = e.character if isinstance(e.character, str) else chr(e.character or 0)
    return Problem(path, f"character U+{ord(char):04X} is not allowed in YAML", line, column,
                   hint="remove it or write it as an escape inside double quotes (\\u0001): "
                   "YAML allows no control characters but tab and newline; a device string "
                   "pasted into the file can carry one")


def _nesting_problem(path: Path, e: BaseException) -> Problem:
    what = "nested too deeply" if isinstance(e, RecursionError) else f"not YAML ({e})"
    return Problem(path, f"the config is {what}",
                   hint="a config is a few levels deep: agent, outputs, sites, checks")


def _check_keys(node: Node, at: KeyPath, path: Path, problems: list[Problem],
                seen: set[int]) -> None:
    """Report duplicate keys (PyYAML would silently keep the last), then apply `<<:` merges."""
    if id(node) in seen:          # an alias to a node already walked
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[str, ScalarNode] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                _check_keys(value, at, path, problems, seen)
                continue
            if key.value in first:
                line, col = position(first[key.value])
                where = f"line {line}" if line != position(key)[0] else f"column {col}"
                problems.append(Problem(
                    path, f"duplicate key '{key.value}' (first at {where})",
                    *position(key), dotted((*at, key.value)),
                    hint="keep one of them: YAML would silently use only the last"))
            else:
                first[key.value] = key
            _check_keys(value, (*at, key.value), path, problems, seen)
        try:
            # merged keys come first and the mapping's own keys after, so its own win
            yaml.constructor.SafeConstructor().flatten_mapping(node)
        except yaml.MarkedYAMLError as e:
            problems.append(Problem(path, f"bad merge: {e.problem}", *position(node), dotted(at),
                                    hint="`<<:` takes an alias of a mapping, e.g. <<: *defaults"))
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check_keys(item, (*at, i), path, problems, seen)
