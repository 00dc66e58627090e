"""What a probe kind declares about itself, in one place: everything else reads it from here.

Each probe package exports one `PROBE = ProbeKind(...)`; `collector.registry` lists them. The
config loader builds `checks.<kind>` from `check`, the daemon imports `module` only when a
config uses the kind, and `status`, `uptime`, completion and the health line find the
targets through `state`. `metrics` names the tables of what its points hold
(collector/metrics.py), from which the docs are generated and to which tests/contract holds
every point.

    PROBE = ProbeKind(kind="ping", check=PingCheck, module="linkwatch.collector.ping.probe",
                      title="ping target", measurements=("ping",), metrics=("metrics.csv",),
                      state=StateRule("ping", "target", links=True))
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StateRule:
    """How a sample becomes UP or DOWN: the `up` field (1/0) of `measurement`, one target
    per value of the tag `tag`. `links`: the targets stand for links, so `uptime`,
    `outages` and the report count their availability (ping targets do; an SNMP device's
    management plane does not)."""

    measurement: str
    tag: str
    links: bool = False


@dataclass(frozen=True)
class ProbeKind:
    """One kind of check: its key under `checks:`, its config model and its code."""

    kind: str                          # the key under `checks:` in the config
    check: type                        # frozen dataclass: one check as configured
    module: str                        # imported only when a config uses the kind; it
                                       # defines `async open_probes(checks, ctx)`
    title: str                         # what one check is, for people: "ping target"
    measurements: tuple[str, ...] = () # what its samples are written as
    many: bool = True                  # a list of checks (`- {...}`), or one mapping
    state: StateRule | None = None     # None: the kind has no targets that go up or down
    metrics: tuple[str, ...] = ()      # its metrics tables: files in the package of
                                       # `module`, or `package:file` (collector/metrics.py)
