"""The `alerts:` and `notify:` sections: which rules fire, and who hears of it, how.

Every rule works with no line written (its defaults); `alerts.overrides` changes one rule
for one site or one check. Channels are listed by kind under `notify:`, each with its
routing (severities, sites, rules), repeat interval and rate limit. The contract of what
fires when and what is delivered how is docs/alerts.md.

    alerts:
      language: vi
      rules:
        link_saturated: {threshold_pct: 85, for: 20m}
      overrides:
        - {rule: target_down, check: cai-rong-radio, severity: warning}
    notify:
      email:
        - {name: it-staff, server: smtp.vandon.example, sender: linkwatch@vandon.example,
           to: [it@vandon.example], username: linkwatch, password_file: /etc/linkwatch/smtp}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from linkwatch.collector.keys import key
from linkwatch.collector.units import Seconds, Secret

Severity = Literal["critical", "warning", "info"]
Language = Literal["vi", "en"]
RuleName = Literal["target_down", "device_down", "uplink_down", "link_saturated", "quality",
                   "backlog", "dead_letters", "spool_full", "disk_low", "clock_stepped",
                   "agent_silent"]

_ZERO = Seconds(0)
_MINUTE = Seconds(60)
_10_MINUTES = Seconds(600)
_15_MINUTES = Seconds(900)
_30_MINUTES = Seconds(1800)
_HOUR = Seconds(3600)
_5_MINUTES = Seconds(300)
_30_SECONDS = Seconds(30)


# -- rules ----------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Rule:
    """What every rule has: on or off, how urgent, and how long its condition must hold."""

    enabled: bool = key(True, doc="false: the rule never fires")
    severity: Severity = key("warning", doc="critical, warning or info: routes the alert")
    for_: Seconds = key(_ZERO, doc="how long the condition must hold before it fires",
                        name="for")


@dataclass(frozen=True, kw_only=True)
class TargetDown(Rule):
    """A ping target DOWN for the outage length N (`alerts.outage_cycles`), then `for`."""

    severity: Severity = key("critical", doc="critical, warning or info")


@dataclass(frozen=True, kw_only=True)
class DeviceDown(Rule):
    """An SNMP device not answering for N cycles, then `for`."""

    severity: Severity = key("critical", doc="critical, warning or info")


@dataclass(frozen=True)
class WatchedInterface:
    """An interface whose oper status is watched besides the declared uplinks."""

    device: str = key(doc="the snmp check's name")
    interface: str = key(doc="its ifName, ifAlias or ifIndex")


@dataclass(frozen=True, kw_only=True)
class UplinkDown(Rule):
    """The oper status of a declared uplink (or a named interface) not up for N polls."""

    severity: Severity = key("critical", doc="critical, warning or info")
    interfaces: tuple[WatchedInterface, ...] = key(
        (), doc="more interfaces to watch, besides every check's `uplink`")


@dataclass(frozen=True, kw_only=True)
class LinkSaturated(Rule):
    """Mean utilisation of an uplink direction over `for` above `threshold_pct`."""

    for_: Seconds = key(_15_MINUTES, doc="the window the mean is taken over", name="for",
                        positive=True)
    threshold_pct: float = key(90.0, doc="mean utilisation above this fires", unit="%",
                               low=0, high=100)


@dataclass(frozen=True, kw_only=True)
class Quality(Rule):
    """Loss or RTT p95 over `for` above the site's `requirements` (max_loss_pct, max_rtt)."""

    for_: Seconds = key(_10_MINUTES, doc="the window loss and p95 are taken over",
                        name="for", positive=True)


@dataclass(frozen=True, kw_only=True)
class Backlog(Rule):
    """The oldest unsent point has waited longer than `for`."""

    for_: Seconds = key(_HOUR, doc="age of the oldest unsent point that fires", name="for",
                        positive=True)


@dataclass(frozen=True, kw_only=True)
class DeadLetters(Rule):
    """A server rejected points (new dead letters since the last evaluation)."""


@dataclass(frozen=True, kw_only=True)
class SpoolFull(Rule):
    """The spool uses more than `threshold_pct` of `agent.spool.max_size`."""

    threshold_pct: float = key(90.0, doc="share of max_size that fires", unit="%", low=0,
                               high=100)


@dataclass(frozen=True, kw_only=True)
class DiskLow(Rule):
    """The spool's file system is fuller than `threshold_pct`."""

    threshold_pct: float = key(95.0, doc="used share of the file system that fires",
                               unit="%", low=0, high=100)


@dataclass(frozen=True, kw_only=True)
class ClockStepped(Rule):
    """The wall clock jumped by more than `step` against the monotonic clock."""

    step: Seconds = key(_MINUTE, doc="a jump larger than this fires", positive=True)


@dataclass(frozen=True, kw_only=True)
class AgentSilent(Rule):
    """No `linkwatch` health point from an agent for `for` (evaluated by the watcher)."""

    severity: Severity = key("critical", doc="critical, warning or info")
    for_: Seconds = key(_10_MINUTES, doc="silence that fires", name="for", positive=True)


@dataclass(frozen=True)
class Rules:
    """Every rule, each with its defaults."""

    target_down: TargetDown = key(factory=TargetDown, doc="a ping target is down")
    device_down: DeviceDown = key(factory=DeviceDown, doc="an SNMP device does not answer")
    uplink_down: UplinkDown = key(factory=UplinkDown, doc="an uplink's oper status is down")
    link_saturated: LinkSaturated = key(factory=LinkSaturated, doc="an uplink is full")
    quality: Quality = key(factory=Quality, doc="loss or latency above the site's limits")
    backlog: Backlog = key(factory=Backlog, doc="points wait too long to be sent")
    dead_letters: DeadLetters = key(factory=DeadLetters, doc="a server rejected points")
    spool_full: SpoolFull = key(factory=SpoolFull, doc="the spool is near its size cap")
    disk_low: DiskLow = key(factory=DiskLow, doc="the spool's disk is nearly full")
    clock_stepped: ClockStepped = key(factory=ClockStepped, doc="the clock jumped")
    agent_silent: AgentSilent = key(factory=AgentSilent, doc="an agent stopped reporting")

    def named(self, rule: str) -> Rule:
        return getattr(self, rule)


@dataclass(frozen=True)
class Override:
    """One rule changed for one site or one check (a ping target or SNMP device)."""

    rule: RuleName = key(doc="the rule it changes")
    site: str | None = key(None, doc="the site whose checks it applies to")
    check: str | None = key(None, doc="the check (ping target or snmp device) it applies to")
    enabled: bool | None = key(None, doc="false: the rule never fires there")
    severity: Severity | None = key(None, doc="another severity there")
    for_: Seconds | None = key(None, doc="another `for` there", name="for")
    threshold_pct: float | None = key(None, doc="another threshold there (rules that have "
                                      "one)", unit="%", low=0, high=100)


@dataclass(frozen=True)
class Flapping:
    """Flap damping: a subject whose state changes `changes` times within `within` is
    reported once as flapping; it settles when the window holds fewer than half as many."""

    changes: int = key(6, doc="state changes within `within` that make it flapping; 0: off",
                       low=0, high=1000)
    within: Seconds = key(_30_MINUTES, doc="the window changes are counted in",
                          positive=True)


@dataclass(frozen=True)
class AlertSettings:
    """The `alerts:` section."""

    language: Language = key("vi", doc="messages in Vietnamese (vi) or English (en)")
    outage_cycles: int = key(3, doc="N: consecutive failed cycles that make an outage, as "
                             "the queries' --min-cycles", low=1, high=1000)
    digest_after: Seconds = key(_30_MINUTES, doc="notifications older than this when "
                                "their channel can take them go out as one digest",
                                positive=True)
    watch: bool = key(False, doc="this agent is the district's watcher: it evaluates "
                      "agent_silent on the central store")
    watch_every: Seconds = key(_MINUTE, doc="how often the watcher reads the store",
                               positive=True)
    watch_output: str | None = key(None, doc="the output (its name, queue name or url) whose "
                                   "store the watcher reads", default_doc="the first output")
    flapping: Flapping = key(factory=Flapping, doc="flap damping")
    rules: Rules = key(factory=Rules, doc="the rules and their settings")
    overrides: tuple[Override, ...] = key((), doc="changes to one rule for one site or check")


# -- channels -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Channel:
    """What every channel has: its name, its routing, repeats and its rate limit."""

    kind: ClassVar[str] = ""
    person: ClassVar[bool] = True      # read by people: digests, never twice after a crash

    name: str = key(doc="names the channel in logs, `spool status` and the outbox")
    severities: tuple[Severity, ...] = key((), doc="only alerts of these severities "
                                           "(critical, warning, info)", default_doc="all")
    sites: tuple[str, ...] = key((), doc="only alerts of these sites", default_doc="all")
    rules: tuple[RuleName, ...] = key((), doc="only alerts of these rules",
                                      default_doc="all")
    resolved: bool = key(True, doc="also say when an alert is resolved")
    repeat: Seconds | None = key(None, doc="say it again while still firing, this often",
                                 default_doc="never", positive=True)
    max_per_hour: int | None = key(30, doc="at most this many messages in any hour; more "
                                   "wait (and go as a digest)", low=1)
    language: Language | None = key(None, doc="this channel's language",
                                    default_doc="`alerts.language`")
    timeout: Seconds = key(_30_SECONDS, doc="one delivery attempt's limit", positive=True)


@dataclass(frozen=True, kw_only=True)
class EmailChannel(Channel):
    """SMTP with STARTTLS (port 587), TLS from the start (SMTPS, 465) or plain (25)."""

    kind: ClassVar[str] = "email"

    server: str = key(doc="the SMTP server's host name or address")
    port: int | None = key(None, doc="the SMTP port", low=1, high=65535,
                           default_doc="587 (starttls), 465 (tls), 25 (none)")
    security: Literal["starttls", "tls", "none"] = key(
        "starttls", doc="starttls, tls (SMTPS) or none (only on a trusted LAN)")
    username: str | None = key(None, doc="SMTP login")
    password: Secret | None = key(None, doc="SMTP password")
    sender: str = key(doc="the From: address")
    to: tuple[str, ...] = key(doc="recipients")
    ca_file: Path | None = key(None, doc="CA bundle the server's certificate is checked "
                               "against", default_doc="the system's CAs")


@dataclass(frozen=True, kw_only=True)
class BotChannel(Channel):
    """A Bot API's sendMessage over HTTPS (Zalo's and Telegram's have the same shape)."""

    token: Secret = key(doc="the bot token")
    chat_ids: tuple[str, ...] = key(doc="the chats (users or groups) to write to")
    url: str = key(doc="the Bot API's base URL")
    ca_file: Path | None = key(None, doc="CA bundle", default_doc="the system's CAs")


@dataclass(frozen=True, kw_only=True)
class ZaloChannel(BotChannel):
    """The Zalo Bot Platform's sendMessage: the messenger the district's staff read."""

    kind: ClassVar[str] = "zalo"
    url: str = key("https://bot-api.zaloplatforms.com", doc="the Bot API's base URL")


@dataclass(frozen=True, kw_only=True)
class TelegramChannel(BotChannel):
    """Telegram's Bot API sendMessage. Telegram is blocked on Vietnamese ISPs: optional."""

    kind: ClassVar[str] = "telegram"
    url: str = key("https://api.telegram.org", doc="the Bot API's base URL")


@dataclass(frozen=True, kw_only=True)
class SmsChannel(Channel):
    """A local GSM modem: smstools' outgoing spool directory, or gammu-smsd-inject."""

    kind: ClassVar[str] = "sms"

    to: tuple[str, ...] = key(doc="phone numbers, international format (+84…)")
    via: Literal["smstools", "gammu"] = key("smstools", doc="smstools or gammu")
    outgoing: Path = key(Path("/var/spool/sms/outgoing"), doc="smstools' outgoing directory")
    inject: str = key("gammu-smsd-inject", doc="gammu-smsd-inject's path (via: gammu)")
    gammu_config: Path | None = key(None, doc="gammu-smsd's config, passed as -c",
                                    default_doc="gammu-smsd's own")
    max_parts: int = key(3, doc="parts per message at most (70 characters each in UCS-2)",
                         low=1, high=9)
    max_per_hour: int | None = key(10, doc="at most this many messages in any hour", low=1)


@dataclass(frozen=True, kw_only=True)
class AlertmanagerChannel(Channel):
    """POST /api/v2/alerts of a Prometheus Alertmanager; re-sent while firing."""

    kind: ClassVar[str] = "alertmanager"
    person: ClassVar[bool] = False

    url: str = key(doc="the Alertmanager's base URL, e.g. http://127.0.0.1:9093")
    repeat: Seconds | None = key(_MINUTE, doc="re-sent this often while firing (under the "
                                 "Alertmanager's resolve_timeout)", positive=True)
    max_per_hour: int | None = key(None, doc="at most this many requests in any hour", low=1)
    token: Secret | None = key(None, doc="sent as `Authorization: Bearer`")
    ca_file: Path | None = key(None, doc="CA bundle", default_doc="the system's CAs")


@dataclass(frozen=True, kw_only=True)
class WebhookChannel(Channel):
    """POST of the documented JSON body (docs/alerts.md) to a URL."""

    kind: ClassVar[str] = "webhook"
    person: ClassVar[bool] = False

    url: str = key(doc="where the JSON is posted")
    max_per_hour: int | None = key(None, doc="at most this many requests in any hour", low=1)
    token: Secret | None = key(None, doc="sent as `Authorization: Bearer`")
    ca_file: Path | None = key(None, doc="CA bundle", default_doc="the system's CAs")


@dataclass(frozen=True, kw_only=True)
class CommandChannel(Channel):
    """An executable that gets the documented JSON body on stdin; exit 0 is delivered."""

    kind: ClassVar[str] = "command"
    person: ClassVar[bool] = False

    command: tuple[str, ...] = key(doc="the program and its arguments (no shell)")
    max_per_hour: int | None = key(None, doc="at most this many runs in any hour", low=1)


@dataclass(frozen=True)
class Notify:
    """The `notify:` section: channels by kind, and how delivery retries."""

    email: tuple[EmailChannel, ...] = key((), doc="SMTP channels")
    zalo: tuple[ZaloChannel, ...] = key((), doc="Zalo Bot channels")
    telegram: tuple[TelegramChannel, ...] = key((), doc="Telegram Bot channels (optional)")
    sms: tuple[SmsChannel, ...] = key((), doc="GSM modem channels")
    alertmanager: tuple[AlertmanagerChannel, ...] = key((), doc="Prometheus Alertmanagers")
    webhook: tuple[WebhookChannel, ...] = key((), doc="JSON webhooks")
    command: tuple[CommandChannel, ...] = key((), doc="local programs")
    retry_max: Seconds = key(_5_MINUTES, doc="the longest wait between two attempts on a "
                             "failing channel", positive=True)

    @property
    def channels(self) -> tuple[Channel, ...]:
        """Every channel, in the order of the kinds above, then of the file."""
        return (*self.email, *self.zalo, *self.telegram, *self.sms, *self.alertmanager,
                *self.webhook, *self.command)

    def named(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

