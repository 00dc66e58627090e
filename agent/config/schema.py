"""The configuration as typed, frozen dataclasses: parsed once, never re-read as dicts.

Every field here is a config key of the same name, declared with collector.keys.key(): its
doc, unit and limits live beside it, the loader enforces the limits, and the key tables of
docs/configuration.md are generated from it (agent/config/reference.py). The exceptions are
the fields marked `internal`: the loader fills them in after validation (agent/config/
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

from linkwatch.agent.config.alerting import AlertSettings, Notify
from linkwatch.agent.config.calendar import OfficeHours
from linkwatch.agent.config.maintenance import MaintenanceWindow
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
    """The local store of measurements (docs/store-and-forward.md)."""

    path: Path = key(Path("./var/spool.db"), doc="SQLite file; relative to the config "
                     "file's directory")
    max_size: Bytes = key(_256_MIB, doc="the limit of the file on disk", low=2**20)
    history: Seconds = key(_30_DAYS, doc="how long sent measurements are kept for local "
                           "queries and reports", positive=True)
    group_readable: bool = key(False, doc="a spool this agent creates is 0640 in a 0750 "
                               "directory, so the members of its group (IT staff) read it with "
                               "`status --local`; otherwise 0600 in 0700")


@dataclass(frozen=True)
class AgentSettings:
    """Who this agent is, and its spool."""

    name: str = key(doc="tag `agent` on every point")
    site: str = key(doc="tag `site` of every check that sets none; when `sites` are "
                    "declared it must be one of them")
    spool: SpoolSettings = key(factory=SpoolSettings, doc="the local store of measurements",
                               default_doc="see below")
    timezone: str | None = key(None, doc="IANA time zone for dates in queries and reports, "
                               "e.g. `Asia/Ho_Chi_Minh`", default_doc="the system's")
    snmp_profiles: Path | None = key(None, doc="a directory of the site's own device profiles "
                                     "(`*.yaml`), read beside the shipped ones; a site "
                                     "profile with a shipped profile's name replaces it "
                                     "(docs/profiles.md). Relative to the config file's "
                                     "directory")


@dataclass(frozen=True)
class InfluxOutput:
    """An InfluxDB v1 `/write` or v2 `/api/v2/write` endpoint (victoria-metrics too)."""

    type: Literal["influxdb"] = key(doc="the kind of output")
    url: str = key(doc="`http://` or `https://`, host and port, e.g. "
                   "`http://127.0.0.1:8086`")
    name: str | None = key(None, doc="names the send queue; two outputs may not share one. "
                           "The url is not part of it, so moving the server (a new url) "
                           "keeps the backlog; a removed output's queue is dropped",
                           default_doc="`influxdb:<bucket or database>`")
    version: Literal["auto", "1", "2"] = key("auto", doc="the write API: `1` is `/write`, "
                                             "`2` is `/api/v2/write`; `auto` reads the "
                                             "server's version from `/ping`")
    database: str = key("linkwatch", doc="v1 database (also used by the v1-compatible "
                        "query API)")
    retention_policy: str | None = key(None, doc="v1 retention policy",
                                       default_doc="the database's default")
    username: str | None = key(None, doc="v1 user")
    password: Secret | None = key(None, doc="v1 password")
    bucket: str | None = key(None, doc="v2 bucket; required with `version: 2`")
    org: str | None = key(None, doc="v2 organisation; required with `version: 2`")
    token: Secret | None = key(None, doc="v2 token (also accepted by the v1-compatible API "
                               "of InfluxDB 2.x); required with `version: 2`")
    batch_size: int = key(5000, doc="points per write request", low=1, high=100_000)
    timeout: Seconds = key(_10_SECONDS, doc="one write request's limit", positive=True)
    gzip: bool = key(True, doc="compress request bodies")
    create_database: bool = key(True, doc="when the server answers 404 (no such database "
                                "or bucket), create it where the credentials allow "
                                "(InfluxDB 1.x: an admin user; 2.x: a token that may create "
                                "buckets) and send again; `false`, or credentials that may "
                                "not: the log says the step to take by hand "
                                "([operations.md](operations.md#the-database))")

    @property
    def shown_url(self) -> str:
        """The url as it may be printed (errors, logs, the report): never a user or password."""
        return shown_url(self.url)

    @property
    def queue_name(self) -> str:
        """The spool queue of this output. Not the url: moving the server keeps the backlog."""
        return self.name or f"influxdb:{self.bucket or self.database}"

    @property
    def urls(self) -> tuple[str, ...]:
        """The urls as written, for `--output URL` and messages."""
        return (self.url,)


@dataclass(frozen=True)
class VictoriaOutput:
    """VictoriaMetrics: a single node (`url`), or a cluster (`insert_url`, `select_url`,
    `tenant`). Writes line protocol, reads the Prometheus query API (docs/scale.md)."""

    type: Literal["victoriametrics"] = key(doc="the kind of output")
    url: str | None = key(None, doc="a single node, e.g. `http://127.0.0.1:8428`: writes "
                          "`<url>/write`, reads `<url>/api/v1/…`", default_doc="none")
    insert_url: str | None = key(None, doc="a cluster's vminsert, e.g. "
                                 "`http://vminsert:8480`: writes "
                                 "`<insert_url>/insert/<tenant>/influx/write`",
                                 default_doc="none")
    select_url: str | None = key(None, doc="a cluster's vmselect, e.g. "
                                 "`http://vmselect:8481`: reads "
                                 "`<select_url>/select/<tenant>/prometheus/api/v1/…`",
                                 default_doc="none")
    tenant: str = key("0", doc="a cluster's tenant: `accountID` or `accountID:projectID` "
                      "(numbers); a single node has none")
    name: str | None = key(None, doc="names the send queue, as for `influxdb`",
                           default_doc="`victoriametrics`, or `victoriametrics:<tenant>` "
                           "for a cluster")
    username: str | None = key(None, doc="HTTP basic auth user (vmauth, or "
                               "`-httpAuth.username`)", default_doc="none")
    password: Secret | None = key(None, doc="its password", default_doc="none")
    token: Secret | None = key(None, doc="a bearer token (vmauth)", default_doc="none")
    batch_size: int = key(5000, doc="points per write request", low=1, high=100_000)
    timeout: Seconds = key(_10_SECONDS, doc="one request's limit (writes and queries)",
                           positive=True)
    gzip: bool = key(True, doc="compress write bodies")

    @property
    def shown_url(self) -> str:
        """The urls as they may be printed (errors, logs, the report): never a password."""
        return ", ".join(shown_url(u) for u in self.urls)

    @property
    def cluster(self) -> bool:
        return self.url is None

    @property
    def queue_name(self) -> str:
        """The spool queue of this output. Not the url: moving the server keeps the backlog."""
        if self.name:
            return self.name
        return f"victoriametrics:{self.tenant}" if self.cluster else "victoriametrics"

    @property
    def write_url(self) -> str:
        """Where line protocol is POSTed."""
        if self.url is not None:
            return self.url.rstrip("/") + "/write"
        return f"{(self.insert_url or '').rstrip('/')}/insert/{self.tenant}/influx/write"

    @property
    def read_url(self) -> str:
        """The base of the Prometheus query API: <read_url>/api/v1/query."""
        if self.url is not None:
            return self.url.rstrip("/")
        return f"{(self.select_url or '').rstrip('/')}/select/{self.tenant}/prometheus"

    @property
    def urls(self) -> tuple[str, ...]:
        """The urls as written, for `--output URL` and messages."""
        return tuple(u for u in (self.url, self.insert_url, self.select_url) if u)


Output = InfluxOutput | VictoriaOutput


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

    down: BitsPerSecond = key(doc="towards the site (download)", positive=True)
    up: BitsPerSecond = key(doc="from the site (upload)", positive=True)


@dataclass(frozen=True)
class SiteRequirements:
    """What a site's link must deliver: the yardstick of the planners' report.

    Defaults (docs/configuration.md#site-requirements): 99% availability; thresholds 70% warn
    and 80% upgrade on p95 utilisation; quality limits from ITU-T G.114 (one-way delay
    ≤ 400 ms, so 800 ms round trip) and Y.1541 classes 0-1 (loss ≤ 1%, jitter ≤ 50 ms).
    """

    availability_pct: float = key(99.0, doc="availability target over the report's period",
                                  unit="%", low=0, high=100)
    video_conferences: int = key(0, doc="concurrent HD video conferences the site must hold "
                                 "(e.g. online meetings with the province)", low=0)
    video_conference_rate: BitsPerSecond = key(_2_MBPS, doc="what one video conference "
                                               "needs, in each direction")
    baseline_down: BitsPerSecond = key(_0_BPS, doc="other declared traffic towards the site "
                                       "(online public services, mail, updates)")
    baseline_up: BitsPerSecond = key(_0_BPS, doc="other declared traffic from the site")
    warn_pct: float = key(70.0, doc="p95 utilisation above this is a warning (planning "
                          "threshold)", unit="%", positive=True)
    upgrade_pct: float = key(80.0, doc="p95 utilisation above this calls for an upgrade; "
                             "also the headroom used to size one", unit="%", positive=True)
    max_rtt: Seconds = key(_800_MS, doc="p95 round-trip time limit (ITU-T G.114: one-way "
                           "delay ≤ 400 ms)", positive=True)
    max_loss_pct: float = key(1.0, doc="mean packet loss limit while the link is up (ITU-T "
                              "Y.1541 classes 0-1)", unit="%", low=0, high=100)
    max_jitter: Seconds = key(_50_MS, doc="p95 jitter limit (ITU-T Y.1541 classes 0-1)",
                              positive=True)
    office_hours: OfficeHours = key(_OFFICE_HOURS, doc="office hours, local time, Monday to "
                                    "Friday: hours above 70/80% are counted within them")
    radio_floor_dbm: float = key(-75.0, doc="a radio link of the site whose 5-minute mean "
                                 "signal is below this is degraded (docs/cli.md \"Radio "
                                 "degradation\")", unit="dBm", low=-120, high=0)
    radio_min_ccq_pct: float = key(70.0, doc="a radio link whose 5-minute mean CCQ is below "
                                   "this is degraded", unit="%", low=0, high=100)


@dataclass(frozen=True)
class Site:
    """A place of the network, and the link its traffic crosses."""

    name: str = key(doc="the `site` tag; unique")
    parent: str | None = key(None, doc="the site whose link this site's traffic crosses. "
                             "When the parent's link is down, checks of this site are "
                             "UNREACHABLE, not DOWN. Must name a declared site; parents may "
                             "not form a loop")
    capacity: Capacity | None = key(None, doc="the contracted link capacity, see below; "
                                    "without it, utilisation uses the interface speed the "
                                    "device reports")
    description: str | None = key(None, doc="free text for people and reports (full names, "
                                  "what the link is)")
    requirements: SiteRequirements = key(factory=SiteRequirements, doc="what the site's link "
                                         "must deliver; the yardstick of `linkwatch report`, "
                                         "see below", default_doc="the defaults below")


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
    """The whole file."""

    agent: AgentSettings = key(doc="who this agent is, and its spool")
    outputs: tuple[Output, ...] = key((), doc="where measurements are sent: InfluxDB or "
                                      "VictoriaMetrics",
                                      default_doc="none: they stay in the local spool")
    sites: tuple[Site, ...] = key((), doc="the places of the network and the links between "
                                  "them")
    checks: Checks = key(factory=Checks, doc="what is measured, by kind", default_doc="none")
    carry: CarrySettings = key(factory=CarrySettings, doc="carrying points out by hand: the "
                               "signing key, and whose exports are accepted here",
                               default_doc="sign with signing.key beside the spool; accept "
                               "no signed exports")
    # Filled in by the loader, never keys (`internal` keeps them out of the YAML):
    source: Path | None = field(default=None, metadata=INTERNAL)   # the file it was read from
    probes: tuple[ProbeKind, ...] = field(default=(), metadata=INTERNAL)  # kinds it knew
    tz: dt.tzinfo = field(default=dt.UTC, metadata=INTERNAL)   # agent.timezone, else local
    # Alerting (agent/config/alerting.py, maintenance.py; docs/alerts.md):
    alerts: AlertSettings = key(factory=AlertSettings, doc="which alerts fire, in which "
                                "language", default_doc="every rule on, with its defaults")
    notify: Notify = key(factory=Notify, doc="who hears of the alerts, and how",
                         default_doc="no channel")
    maintenance: tuple[MaintenanceWindow, ...] = key(
        (), doc="windows when nothing is alerted and availability leaves the time out")

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def output(self, name: str | None = None) -> Output | None:
        """The output named `name` (its `name`, its queue name or one of its urls), or the
        first output when `name` is None."""
        return next((o for o in self.outputs
                     if name is None or name in (o.name, o.queue_name, *o.urls)), None)

    def parents(self) -> dict[str, str | None]:
        """Site → the site whose link its traffic crosses."""
        return {s.name: s.parent for s in self.sites}

    def uplink_check(self, site: str) -> Check | None:
        """The check whose uplink a site's bandwidth is measured on: the first of the site's
        checks that names one."""
        return next((c for c in self.checks.all if c.uplink and c.site == site), None)
