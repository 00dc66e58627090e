"""The configuration as typed, frozen dataclasses: parsed once, never re-read as dicts.

Every field here is a config key of the same name (docs/configuration.md documents each),
except those marked `internal`: the loader fills them in after validation (agent/config/
resolve.py) with what follows from the rest of the file, so no reader derives it again:
each check's site, address, interval and uplink (`Check`), the time zone, the probe kinds.
Check dataclasses belong to their probe in `collector/<kind>/check.py`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.collector.keys import key
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.snmp.check import UPLINK_TAGS, names_interface
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds, Secret

INTERNAL = {"internal": True}     # field metadata: not a config key, set by the loader

# Defaults as module constants: the values are immutable, and ruff's RUF009 wants no calls
# in dataclass defaults.
_256_MIB = Bytes(256 * 2**20)
_30_DAYS = Seconds(30 * 86400)
_10_SECONDS = Seconds(10)
_2_MBPS = BitsPerSecond(2_000_000)
_0_BPS = BitsPerSecond(0)
_800_MS = Seconds(0.8)
_50_MS = Seconds(0.05)
_OFFICE_HOURS = OfficeHours.parse("07:30-17:00")


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
    snmp_profiles: Path | None = key(None, doc="a directory of the site's own device profiles "
                                     "(*.yaml), beside the shipped ones (docs/profiles.md)")


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
    def shown_url(self) -> str:
        """The url as it may be printed (errors, logs, the report): never a user or password."""
        return shown_url(self.url)

    @property
    def queue_name(self) -> str:
        """The spool queue of this output. Not the url: moving the server keeps the backlog."""
        return self.name or f"influxdb:{self.bucket or self.database}"


def shown_url(url: str) -> str:
    """`url` without the user name and password it may hold (`http://u:p@host` → `http://***@host`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


PUBLIC_KEY_PREFIX = "ed25519:"


@dataclass(frozen=True)
class TrustedAgent:
    """An agent whose exports `linkwatch spool import` accepts, and what they may hold."""

    agent: str = key(doc="the exporting agent's `agent.name` (the tag `agent` of its points)")
    public_key: str = key(doc="its public key, `ed25519:...`, as `linkwatch keys` prints it "
                          "on that agent")
    sites: tuple[str, ...] = key(doc="the sites its points may carry (the tag `site`)")

    def __post_init__(self) -> None:
        if not public_key_bytes(self.public_key):
            raise ValueError(f"public_key of agent {self.agent!r} is not an Ed25519 public "
                             f"key: expected {PUBLIC_KEY_PREFIX} and 44 characters of base64, "
                             "as `linkwatch keys` prints it on that agent")
        if not self.sites:
            raise ValueError(f"agent {self.agent!r} lists no sites: name the sites its "
                             "points stand for, e.g. sites: [ngoc-vung]")


def public_key_bytes(text: str) -> bytes | None:
    """The 32 bytes of an `ed25519:<base64>` public key, or None when it is not one."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        return None
    try:
        raw = base64.b64decode(text.removeprefix(PUBLIC_KEY_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


@dataclass(frozen=True)
class CarrySettings:
    """Carrying points out by hand: this agent's signing key for `spool export`, and the
    agents whose exports `spool import` accepts here."""

    signing_key: Path | None = key(None, doc="this agent's Ed25519 signing key (created by "
                                   "`linkwatch keys`); default: signing.key beside the spool")
    trusted: tuple[TrustedAgent, ...] = key((), doc="agents whose signed exports `spool "
                                            "import` writes; none: only --unverified")
    journal: Path | None = key(None, doc="where every import is recorded (JSON lines); "
                               "default: imports.jsonl beside the spool")


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
    office_hours: OfficeHours = _OFFICE_HOURS   # local time, Monday to Friday
    radio_floor_dbm: float = key(-75.0, doc="signal below this is a degraded radio link",
                                 unit="dBm", low=-120, high=0)
    radio_min_ccq_pct: float = key(70.0, doc="CCQ below this is a degraded radio link",
                                   unit="%", low=0, high=100)


@dataclass(frozen=True)
class Site:
    name: str
    parent: str | None = None         # the site whose link this one's traffic crosses
    capacity: Capacity | None = None
    description: str | None = None
    requirements: SiteRequirements = field(default_factory=SiteRequirements)


DIRECTIONS = ("in", "out")        # an interface's directions: in = towards the device


@dataclass(frozen=True)
class Uplink:
    """The interface a site's traffic crosses, on one SNMP device, and its capacity.

    `interface` is matched against ifName, ifAlias or ifIndex; `capacity_bps` holds, per
    direction, the check's `capacity_down`/`capacity_up`, else the site's contract (in =
    the site's download), else None (the interface's own speed is used).
    """

    site: str
    device: str
    interface: str
    capacity_bps: Mapping[str, float | None]

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Whether an `interface` point's tags are this uplink's."""
        return names_interface(self.interface, *(tags.get(t) for t in UPLINK_TAGS))


@dataclass(frozen=True)
class Check:
    """One configured check with everything the rest of the config says about it."""

    probe: ProbeKind
    spec: Any                         # the probe's own check dataclass, `site` filled in
    name: str
    site: str                         # the check's `site`, else the agent's
    address: str | None               # what is probed, for kinds that probe an address
    interval_s: float
    timeout_s: float                  # the check's `timeout`, else its interval
    uplink: Uplink | None = None

    @property
    def kind(self) -> str:
        return self.probe.kind


@dataclass(frozen=True)
class Checks:
    """The `checks:` section: one key per probe kind of the registry (collector/registry.py).

    `written` holds each kind's check dataclasses as the file gave them (one mapping or a
    list); `all` every check resolved, in file order, which is what readers use.
    """

    written: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    all: tuple[Check, ...] = ()

    def of(self, kind: str) -> tuple[Check, ...]:
        return tuple(c for c in self.all if c.probe.kind == kind)

    def named(self, kind: str, name: str) -> Check | None:
        return next((c for c in self.all if c.probe.kind == kind and c.name == name), None)

    def with_state(self) -> tuple[Check, ...]:
        """The checks whose targets go UP or DOWN (ping targets, SNMP devices)."""
        return tuple(c for c in self.all if c.probe.state is not None)


@dataclass(frozen=True)
class Config:
    agent: AgentSettings
    outputs: tuple[InfluxOutput, ...] = ()
    sites: tuple[Site, ...] = ()
    checks: Checks = field(default_factory=Checks)
    carry: CarrySettings = field(default_factory=CarrySettings)
    # Filled in by the loader, never keys (`internal` keeps them out of the YAML):
    source: Path | None = field(default=None, metadata=INTERNAL)   # the file it was read from
    probes: tuple[ProbeKind, ...] = field(default=(), metadata=INTERNAL)  # kinds it knew
    tz: dt.tzinfo = field(default=dt.UTC, metadata=INTERNAL)   # agent.timezone, else local

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def parents(self) -> dict[str, str | None]:
        """Site → the site whose link its traffic crosses."""
        return {s.name: s.parent for s in self.sites}

    def uplink_check(self, site: str) -> Check | None:
        """The check whose uplink a site's bandwidth is measured on: the first of the site's
        checks that names one."""
        return next((c for c in self.checks.all if c.uplink and c.site == site), None)
