"""The configuration as typed, frozen dataclasses: parsed once, never re-read as dicts.

Every field here is a config key of the same name (docs/configuration.md documents each).
Check dataclasses belong to their probe in `collector/<kind>/check.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from linkwatch.collector.host import HostCheck
from linkwatch.collector.ping import PingCheck
from linkwatch.collector.snmp import SnmpCheck
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds, Secret

# Defaults as module constants: the values are immutable, and ruff's RUF009 wants no calls
# in dataclass defaults.
_256_MIB = Bytes(256 * 2**20)
_30_DAYS = Seconds(30 * 86400)
_10_SECONDS = Seconds(10)
_2_MBPS = BitsPerSecond(2_000_000)
_0_BPS = BitsPerSecond(0)
_800_MS = Seconds(0.8)
_50_MS = Seconds(0.05)


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
    name: str | None = None           # names the send queue; default influxdb:<bucket|database>
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
        """The spool queue of this output. Not the url: moving the server keeps the backlog."""
        return self.name or f"influxdb:{self.bucket or self.database}"


@dataclass(frozen=True)
class Capacity:
    """A link's contracted capacity per direction, seen from the site."""

    down: BitsPerSecond
    up: BitsPerSecond


@dataclass(frozen=True)
class SiteRequirements:
    """What a site's link must deliver: the yardstick of the planners' report.

    Defaults (docs/configuration.md#site-requirements): 99% availability; thresholds 70% warn
    and 80% upgrade on p95 utilisation; quality limits from ITU-T G.114 (one-way delay
    ≤ 400 ms, so 800 ms round trip) and Y.1541 classes 0-1 (loss ≤ 1%, jitter ≤ 50 ms).
    """

    availability_pct: float = 99.0        # target for availability over the period
    video_conferences: int = 0            # declared concurrent HD video conferences
    video_conference_rate: BitsPerSecond = _2_MBPS   # each, in each direction
    baseline_down: BitsPerSecond = _0_BPS  # other declared traffic (public services, mail)
    baseline_up: BitsPerSecond = _0_BPS
    warn_pct: float = 70.0                # p95 utilisation above this: warn
    upgrade_pct: float = 80.0             # p95 utilisation above this: upgrade
    max_rtt: Seconds = _800_MS            # round trip, p95
    max_loss_pct: float = 1.0             # mean loss while up
    max_jitter: Seconds = _50_MS          # p95
    office_hours: str = "07:30-17:00"     # local time, Monday to Friday


@dataclass(frozen=True)
class Site:
    name: str
    parent: str | None = None         # the site whose link this one's traffic crosses
    capacity: Capacity | None = None
    description: str | None = None
    requirements: SiteRequirements | None = None   # None: SiteRequirements() defaults


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
