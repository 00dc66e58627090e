"""The device profiles of a config's SNMP checks: read once with the config (the shipped ones
and `agent.snmp_profiles`), a mistake in a profile file or an unknown `profile:` reported
like any other config problem, with its file and line."""

from __future__ import annotations

import difflib
from pathlib import Path

from linkwatch.agent.config.errors import KeyPath, Problem, dotted
from linkwatch.agent.config.schema import Config
from linkwatch.collector.snmp.check import SnmpCheck
from linkwatch.collector.snmp.profiles import Catalog, ProfilesInvalid, load_catalog

CHOICES = ("auto", "none")


def load_profiles(config: Config, *, source: Path, where: dict[int, KeyPath],
                  marks: dict[KeyPath, tuple[int, int]]) -> tuple[Catalog | None, list[Problem]]:
    """The catalog the SNMP checks use (None when the config has none and names no profile
    directory), and the problems found."""
    checks = [c for specs in config.checks.written.values() for c in specs
              if isinstance(c, SnmpCheck)]
    if not checks and config.agent.snmp_profiles is None:
        return None, []
    try:
        catalog = load_catalog(config.agent.snmp_profiles)
    except ProfilesInvalid as e:
        return None, [Problem(err.path, err.message, err.line, None, "", err.hint)
                      for err in e.errors]
    problems = []
    for check in checks:
        if check.profile in CHOICES or catalog.named(check.profile) is not None:
            continue
        at = (*where.get(id(check), ()), "profile")
        line, column = marks.get(at, (None, None))
        close = difflib.get_close_matches(check.profile, catalog.names, n=1)
        problems.append(Problem(
            source, f"unknown profile '{check.profile}'", line, column, dotted(at),
            f"did you mean '{close[0]}'?" if close else
            "known: " + ", ".join((*CHOICES, *catalog.names))))
    return catalog, problems
