"""The configuration as typed, frozen dataclasses: parsed once, never re-read as dicts.

Every field here is a config key of the same name (docs/configuration.md documents each).
Check dataclasses belong to their probe in `collector/<kind>/check.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from collector.host import HostCheck
from collector.ping import PingCheck
from collector.snmp import SnmpCheck
from collector.units import BitsPerSecond, Bytes, Seconds, Secret

# Defaults as module constants: the values are immutable, and ruff's RUF009 wants no calls
# in dataclass defaults.
_256_MIB = Bytes(256 * 2**20)
_30_DAYS = Seconds(30 * 86400)
_10_SECONDS = Seconds(10)


@dataclass(frozen=True)
class SpoolSettings:
    path: Path = Path("./var/spool.db")   # relative: to the config file's directory
    max_size: Bytes = _256_MIB
    history: Seconds = _30_DAYS


@dataclass(frozen=True)
class AgentSettings:
    name: str
    site: str
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    timezone: str | None = None       # IANA name for dates in queries; default: the system's


@dataclass(frozen=True)
class InfluxOutput:
    """An InfluxDB v1 `/write` or v2 `/api/v2/write` endpoint (victoria-metrics too)."""

    type: Literal["influxdb"]
    url: str
    name: str | None = None           # default: the url; names the send queue
    version: Literal["auto", "1", "2"] = "auto"
    database: str = "linkwatch"       # v1
    retention_policy: str | None = None
    username: str | None = None       # v1
    password: Secret | None = None    # v1
    bucket: str | None = None         # v2
    org: str | None = None            # v2
    token: Secret | None = None       # v2, and the v1-compatible API of 2.x
    batch_size: int = 5000
    timeout: Seconds = _10_SECONDS
    gzip: bool = True

    @property
    def queue_name(self) -> str:
        return self.name or self.url


@dataclass(frozen=True)
class Capacity:
    """A link's contracted capacity per direction, seen from the site."""

    down: BitsPerSecond
    up: BitsPerSecond


@dataclass(frozen=True)
class Site:
    name: str
    parent: str | None = None         # the site whose link this one's traffic crosses
    capacity: Capacity | None = None
    description: str | None = None


@dataclass(frozen=True)
class Checks:
    """One key per check kind; the loader needs nothing more to read a new kind."""

    ping: tuple[PingCheck, ...] = ()
    snmp: tuple[SnmpCheck, ...] = ()
    host: HostCheck | None = None


@dataclass(frozen=True)
class Config:
    agent: AgentSettings
    outputs: tuple[InfluxOutput, ...] = ()
    sites: tuple[Site, ...] = ()
    checks: Checks = field(default_factory=Checks)
    # the file it was read from; set by the loader, not a key (`internal` keeps it out of YAML)
    source: Path | None = field(default=None, metadata={"internal": True})
