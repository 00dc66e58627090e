"""The examples of the documentation, read out of its Markdown: code blocks (fenced, or
indented by four spaces after a blank line), the YAML among them, the `linkwatch` commands
they show, and the tables."""

from __future__ import annotations

import dataclasses
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode

from linkwatch.agent.cli import main
from linkwatch.agent.config.schema import Config

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / "collector").glob("*/README.md")))
CONFIG_SECTIONS = {f.name for f in dataclasses.fields(Config) if not f.metadata.get("internal")}
_KEY = re.compile(r"^(?:[a-z_][a-z0-9_]*|x-[a-z0-9_-]+|<<)$")
_FENCE = re.compile(r"^(\s*)```(\S*)")


@dataclass(frozen=True)
class Block:
    """One code block: where it starts (the line of its first line) and its text."""

    path: Path
    line: int
    lang: str                 # a fenced block's language; "" for an indented block
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            end = next((j for j in range(i + 1, len(lines))
                        if lines[j].strip().startswith("```")), len(lines))
            body = textwrap.dedent("\n".join(lines[i + 1:end]))
            found.append(Block(path, i + 2, fence.group(2), body))
            i = end + 1
            continue
        if _opens_indented_block(lines, i):
            end = i
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            while end > i and not lines[end - 1].strip():
                end -= 1
            found.append(Block(path, i + 1, "", textwrap.dedent("\n".join(lines[i:end]))))
            i = end
            continue
        i += 1
    return found


def _opens_indented_block(lines: list[str], i: int) -> bool:
    """A line indented by four or more after a blank line, that is no list item or table."""
    line = lines[i]
    if not line.startswith("    ") or not line.strip() or (i > 0 and lines[i - 1].strip()):
        return False
    return not line.lstrip().startswith(("|", "* ")) and (
        not line.lstrip().startswith("- ") or line.lstrip().startswith("- {"))


def every_block() -> list[Block]:
    return [b for path in DOCUMENTS for b in blocks(path)]


def yaml_keys(block: Block) -> list[str] | None:
    """The top-level keys when the block is a YAML mapping of config-like keys, else None.
    A block that looks like YAML (a first line `key:`) but does not parse raises."""
    if block.lang not in ("", "yaml"):          # ```json, ```sh, … : not a config
        return None
    first = next((line for line in block.text.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    sections = "|".join(sorted(CONFIG_SECTIONS))
    looks = block.lang == "yaml" or re.match(rf"^({sections}|x-[\w-]+):(\s|$)",
                                              first) is not None
    try:
        node = yaml.compose(block.text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        if looks:
            raise
        return None
    if not isinstance(node, MappingNode):
        return None
    keys = [k.value for k, _ in node.value]
    return keys if keys and all(_KEY.match(str(k)) for k in keys) else None


# --------------------------------------------------------------------------- commands

_PROGRAM = re.compile(r"^(?:\S*/)?linkwatch$")
VERBS = (*main.commands, "--help", "--version")


@dataclass(frozen=True)
class Command:
    """One `linkwatch …` invocation shown in a block (a line, continued lines joined)."""

    block: Block
    text: str                 # as written, from `linkwatch` (any `sudo` or path left out)
    args: tuple[str, ...]     # the arguments after the program, without redirection

    @property
    def where(self) -> str:
        return self.block.where


def commands(block: Block) -> list[Command]:
    found = []
    joined = block.text.replace("\\\n", " ")
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        for part in re.split(r"&&|;|\|\|", _without_comment(line)):
            try:
                words = shlex.split(part)
            except ValueError:
                continue
            for k, word in enumerate(words):
                # `linkwatch` as a program: not a user (`sudo -u linkwatch`, `-g linkwatch`,
                # useradd's last word), so followed by one of its commands
                if not _PROGRAM.match(word) or k + 1 >= len(words) or \
                        words[k + 1] not in VERBS:
                    continue
                args = []
                for w in words[k + 1:]:
                    if w in (">", ">>", "|", "2>", "2>&1") or w.startswith((">", "|")):
                        break
                    args.append(w)
                found.append(Command(block, " ".join(["linkwatch", *args]), tuple(args)))
                break
    return found


def _without_comment(line: str) -> str:
    out, quote = [], None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            break
        out.append(char)
    return "".join(out)


def every_command() -> list[Command]:
    return [c for b in every_block() for c in commands(b)]


# ----------------------------------------------------------------------------- tables

def tables(path: Path) -> list[tuple[int, list[str], list[list[str]]]]:
    """(line of the header, header cells, rows of cells) of each table in `path`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$",
                                                                          lines[i + 1]):
            header = _cells(lines[i])
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(_cells(lines[j]))
                j += 1
            found.append((i + 1, header, rows))
            i = j
            continue
        i += 1
    return found


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def table(path: Path, header_starts: str) -> list[list[str]]:
    """The rows of the table in `path` whose first header cell is `header_starts`."""
    matches = [rows for _line, header, rows in tables(path) if header[0] == header_starts]
    assert len(matches) == 1, f"{path}: {len(matches)} tables headed {header_starts!r}"
    return matches[0]


def credentials(root: Path) -> Path:
    """The secret files docs/examples/district.yaml reads from $CREDENTIALS_DIRECTORY,
    with made-up content, in `root`/credentials."""
    district = (REPO / "docs" / "examples" / "district.yaml").read_text(encoding="utf-8")
    creds = root / "credentials"
    creds.mkdir()
    for name in set(re.findall(r"\$\{CREDENTIALS_DIRECTORY:-[^}]*\}/([\w.-]+)", district)):
        (creds / name).write_text("not-a-real-secret-0123\n")
    return creds
