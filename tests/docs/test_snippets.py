"""Every YAML snippet of the docs and the READMEs passes `config check`, and so do the
configs the project ships.

A snippet is often a part of a config (a `checks:` or `outputs:` section alone). It is
checked twice: as written, by the config's own reader (YAML syntax, a key written twice,
`<<:` merges), and completed into a whole config by the least it needs (an `agent:`, the
sites its `parent:` and `site:` name), through `load_config`. Variables it uses are set;
secret files are not read (as by every command that sends nothing). A YAML block that is
no config (a few keys shown on their own) must be listed in FRAGMENTS, with why.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from linkwatch.agent.config import ConfigError, load_config
from linkwatch.agent.config.document import read_document
from tests.docs.markdown import (
    CONFIG_SECTIONS,
    REPO,
    Block,
    credentials,
    every_block,
    yaml_keys,
)

# Blocks of YAML that show keys outside a config, by where they start (file, first line).
FRAGMENTS = {
    ("docs/configuration.md", "url: http://${INFLUX_HOST}:8086"):
        "how `${…}` reads inside values: three keys from different places of a config",
    ("docs/configuration.md", "token: s3cr3t"):
        "the three ways to give one secret, shown one after another",
}


def _is_profile(keys: list[str]) -> bool:
    """A device profile (docs/profiles.md): a file of its own in agent.snmp_profiles."""
    return {"name", "groups"} <= set(keys)


def _snippets() -> list[tuple[Block, list[str]]]:
    found = []
    for block in every_block():
        keys = yaml_keys(block)
        if keys is not None:
            found.append((block, keys))
    return found


def _fragment_key(block: Block) -> tuple[str, str]:
    first = next(line for line in block.text.splitlines() if line.strip())
    return str(block.path.relative_to(REPO)), first.split("#")[0].strip()


def test_every_yaml_block_is_a_config_or_a_listed_fragment():
    unknown = [b.where for b, keys in _snippets()
               if not set(keys) <= CONFIG_SECTIONS | {k for k in keys if k.startswith("x-")}
               and _fragment_key(b) not in FRAGMENTS and not _is_profile(keys)]
    assert unknown == [], "a YAML block that is no config: list it in FRAGMENTS, with why"
    listed = {_fragment_key(b) for b, _ in _snippets()}
    assert set(FRAGMENTS) <= listed, "FRAGMENTS lists blocks no longer in the docs"


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def _completed(data: dict) -> dict:
    """The snippet made a whole config by the least it needs."""
    config = dict(data)
    sites = [s for s in config.get("sites") or [] if isinstance(s, dict)]
    names = {s.get("name") for s in sites}
    wanted = {s.get("parent") for s in sites if s.get("parent")}
    for checks in (config.get("checks") or {}).values():
        for check in checks if isinstance(checks, list) else [checks]:
            if isinstance(check, dict) and check.get("site"):
                wanted.add(check["site"])
    if sites:
        config["sites"] = [*sites, *({"name": n} for n in sorted(wanted - names))]
    # checks the alerts' overrides name, as ping checks
    named = {c.get("name") for checks in (config.get("checks") or {}).values()
             for c in (checks if isinstance(checks, list) else [checks]) if isinstance(c, dict)}
    overridden = {o.get("check") for o in (config.get("alerts") or {}).get("overrides") or []
                  if isinstance(o, dict) and o.get("check")}
    if overridden - named:
        checks = dict(config.get("checks") or {})
        added = ({"name": n, "address": "192.0.2.1"} for n in sorted(overridden - named))
        checks["ping"] = [*(checks.get("ping") or []), *added]
        config["checks"] = checks
    if "agent" not in config:
        site = sites[0]["name"] if sites else "docs"
        config["agent"] = {"name": "docs", "site": site}
    return config


@pytest.mark.parametrize(("block", "keys"),
                         [(b, k) for b, k in _snippets() if _fragment_key(b) not in FRAGMENTS],
                         ids=lambda b: getattr(b, "where", ""))
def test_every_config_snippet_passes_config_check(block: Block, keys, tmp_path):
    if _is_profile(keys):
        from linkwatch.collector.snmp.profiles.loader import read_profile

        written = tmp_path / "profile.yaml"
        written.write_text(block.text, encoding="utf-8")
        profile, errors = read_profile(written)
        assert profile is not None and errors == [], f"{block.where}: {errors}"
        return
    environ = {name: "docs-value" for name, default in _VARIABLE.findall(block.text)
               if not default}
    written = tmp_path / "snippet.yaml"
    written.write_text(block.text, encoding="utf-8")
    _root, problems = read_document(written)     # raises ConfigError on a YAML error
    assert problems == [], f"{block.where}: {problems}"
    whole = tmp_path / "config.yaml"
    whole.write_text(yaml.safe_dump(_completed(yaml.safe_load(block.text)),
                                    allow_unicode=True), encoding="utf-8")
    try:
        load_config(whole, environ={**os.environ, **environ}, secrets=False)
    except ConfigError as e:
        raise AssertionError(f"{block.where}: the snippet fails config check:\n{e}\n"
                             f"{block.text}") from None


@pytest.mark.parametrize("config", ["config.yaml", "docs/examples/district.yaml"])
def test_the_shipped_configs_pass_config_check_with_their_secrets(config, tmp_path):
    creds = credentials(tmp_path)
    loaded = load_config(REPO / config, environ={"CREDENTIALS_DIRECTORY": str(creds),
                                                 "LINKWATCH_INFLUX_TOKEN": "t"})
    assert loaded.checks.all


def test_a_broken_snippet_would_fail(tmp_path):
    """The check above bites: the two mistakes once in configuration.md are refused."""
    duplicate = ("outputs:\n  - {type: influxdb, url: 'http://127.0.0.1:8086'}\n"
                 "  - {type: influxdb, url: 'https://m.example:8086', version: '2',"
                 " org: o, bucket: linkwatch, token: t}\n")
    unquoted = ("checks:\n  snmp:\n    - name: core\n      address: 192.0.2.1\n"
                "      v3: {username: u, auth_protocol: sha, auth_key: ${SNMP_AUTH}}\n")
    for text in (duplicate, unquoted):
        block = Block(Path(REPO / "docs" / "x.md"), 1, "", text)
        with pytest.raises((AssertionError, ConfigError, yaml.YAMLError)):
            test_every_config_snippet_passes_config_check(block, yaml_keys(block) or [],
                                                          tmp_path)
