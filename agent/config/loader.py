"""`load_config`: a config file in, a validated `Config` out, or every problem at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from linkwatch.agent.config.builder import Builder
from linkwatch.agent.config.document import read_document
from linkwatch.agent.config.errors import ConfigError, Problem
from linkwatch.agent.config.profiles import load_profiles
from linkwatch.agent.config.resolve import resolve
from linkwatch.agent.config.schema import Config
from linkwatch.agent.config.validation import validate
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.registry import RegistryError, probe_kinds


def load_config(path: Path, *, environ: Mapping[str, str] | None = None,
                secrets: bool = True, probes: tuple[ProbeKind, ...] | None = None) -> Config:
    """The config in `path`, resolved; raises ConfigError listing every problem found.

    `${VAR}` references are read from `environ` (default: the process environment).
    Relative paths in the file (spool.path, *_file) are relative to the file's directory.
    `secrets=False` is for commands that send nothing: unreadable secrets become empty.
    `probes`: the kinds `checks:` may hold (default: the registry's).
    """
    root, problems = read_document(path)
    if probes is None:
        try:
            probes = probe_kinds()
        except RegistryError as e:
            raise ConfigError([Problem(path, str(e), hint="reinstall or remove the package "
                                       "that registers it")]) from e
    builder = Builder(source=path, base_dir=path.absolute().parent,
                      environ=os.environ if environ is None else environ,
                      secrets_required=secrets, probes=probes)
    config: Config | None = builder.build_root(root, Config)
    problems += builder.problems
    catalog = None
    if config is not None:
        problems += validate(config, source=path, marks=builder.marks,
                             failed=builder.failed, where=builder.where)
        catalog, found = load_profiles(config, source=path, where=builder.where,
                                       marks=builder.marks)
        problems += found
    if problems or config is None:
        raise ConfigError(problems)
    return resolve(config, source=path.absolute(), probes=probes, profiles=catalog)
