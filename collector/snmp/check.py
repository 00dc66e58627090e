"""The `snmp` check as configured: one polled device per check.

Light on purpose: the config loader and the CLI import this at start-up, so nothing here
touches pysnmp. Field types are the loader's contract (it builds these by introspection).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from linkwatch.collector.keys import key
from linkwatch.collector.snmp.oids import parse_oid
from linkwatch.collector.snmp.profiles.model import Catalog
from linkwatch.collector.units import BitsPerSecond, Seconds, Secret

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["none", "des", "aes", "aes128", "aes192", "aes256", "aes192-blumenthal",
                       "aes256-blumenthal"]

# Defaults as module constants: the values are immutable, and ruff's RUF009 wants no calls
# in dataclass defaults.
_PUBLIC = Secret("public")
_MINUTE = Seconds(60)
_TWO_SECONDS = Seconds(2)
_FIVE_MINUTES = Seconds(300)
MIN_V3_KEY = 8                    # RFC 3414 (11.2): a USM passphrase has at least 8 octets


@dataclass(frozen=True)
class SnmpV3User:
    """SNMPv3 USM credentials; the security level follows from the protocols given.

    `auth_protocol: none` → noAuthNoPriv; auth without priv → authNoPriv; both → authPriv.
    `sha` is SHA-1; `aes` is AES-128. `aes192`/`aes256` stretch a short key as Cisco and most
    vendors do (net-snmp's AES-192-C/AES-256-C); `aes192-blumenthal`/`aes256-blumenthal` as
    net-snmp's own AES-192/AES-256 do. The two agree when the auth digest is long enough
    (sha256 and up; sha224 with aes192).
    """

    username: str = key(doc="USM user name")
    auth_protocol: AuthProtocol = key("none", doc="`sha` is SHA-1")
    auth_key: Secret | None = key(None, doc="authentication passphrase (≥ 8 characters); "
                                  "required with an `auth_protocol`")
    priv_protocol: PrivProtocol = key("none", doc="`aes` is AES-128; `aes192`/`aes256` are "
                                      "net-snmp's `AES-192-C`/`AES-256-C` (the Cisco key "
                                      "extension), the `-blumenthal` ones its `AES-192`/"
                                      "`AES-256`; needs an `auth_protocol`")
    priv_key: Secret | None = key(None, doc="privacy passphrase (≥ 8 characters); required "
                                  "with a `priv_protocol`")
    context_name: str = key("", doc="SNMPv3 context")

    def __post_init__(self) -> None:
        short = [name for name, key in (("auth_key", self.auth_key),
                                        ("priv_key", self.priv_key))
                 if key is not None and len(key.reveal()) < MIN_V3_KEY]
        if short:
            raise ValueError(
                f"v3 user {self.username!r}: {' and '.join(short)} shorter than "
                f"{MIN_V3_KEY} characters; SNMPv3 (RFC 3414) needs at least {MIN_V3_KEY} "
                "and agents refuse a shorter one, so the device would only ever look down: "
                "set a longer passphrase on the device and here")
        if self.auth_protocol != "none" and not self.auth_key:
            raise ValueError(f"v3 user {self.username!r}: auth_protocol "
                             f"{self.auth_protocol} needs auth_key")
        if self.priv_protocol != "none":
            if self.auth_protocol == "none":
                raise ValueError(f"v3 user {self.username!r}: priv_protocol needs an "
                                 "auth_protocol too (SNMPv3 has no privacy without auth)")
            if not self.priv_key:
                raise ValueError(f"v3 user {self.username!r}: priv_protocol "
                                 f"{self.priv_protocol} needs priv_key")


@dataclass(frozen=True)
class InterfaceSelection:
    """Which interfaces become `interface` points.

    With no names, aliases, regex or indexes every interface is taken (less loopbacks and
    down ones). Otherwise an interface is taken when any given criterion matches it; an
    interface picked by name, alias or index is taken even when it is a loopback or down.
    """

    enabled: bool = key(True, doc="`false`: no `interface` points (a radio polled only for "
                        "its user OIDs)")
    names: tuple[str, ...] = key((), doc="exact ifName (ifDescr where ifName is empty)")
    aliases: tuple[str, ...] = key((), doc="exact ifAlias (the description set on the port)")
    regex: str | None = key(None, doc="a Python regular expression searched in ifName and "
                            "ifAlias")
    indexes: tuple[int, ...] = key((), doc="ifIndex numbers")
    include_loopback: bool = key(False, doc="also report software loopbacks (ifType 24)")
    include_down: bool = key(False, doc="also report interfaces whose oper or admin status "
                             "is not up")

    def __post_init__(self) -> None:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as e:
                raise ValueError(f"interfaces.regex {self.regex!r} is not a valid regular "
                                 f"expression: {e}") from e


@dataclass(frozen=True)
class SnmpOid:
    """A user-declared value: a scalar (`oid` ends in .0) or a table column.

    Points go to measurement `snmp` with tag `device` (and `index`, the row index, for a
    column), under the field name given. `rate: true` turns a counter into `<field>_per_s`
    with the same discard rules as interface counters (wrap, reboot, counter going down).
    """

    field: str = key(doc="the field name in measurement `snmp` (tags `device`, and `index` "
                     "for table rows)")
    oid: str = key(doc="numeric OID: a scalar instance (ending in `.0`), or with `table: true` "
                   "a column, e.g. `.1.3.6.1.4.1.9.9.109.1.1.1.1.8.1`")
    table: bool = key(False, doc="walk the column: one point per row, tagged `index`")
    rate: bool = key(False, doc="also emit `<field>_per_s` from the counter's increase, with "
                     "the same discard rules as interface counters")
    scale: float = key(1.0, doc="multiply the value (and its rate) by this, e.g. `0.1` for "
                       "tenths of a dBm")

    def __post_init__(self) -> None:
        parse_oid(self.oid)   # raises with the fix in its message
        if not self.field.isidentifier():
            raise ValueError(f"oids: field {self.field!r} must be a name like rx_level_dbm")


# The tags of an `interface` point that `uplink:` may name: ifName, ifAlias or ifIndex.
UPLINK_TAGS = ("if_name", "if_alias", "if_index")


def names_interface(uplink: str, name: str | None, alias: str | None, index: str | None) -> bool:
    """Whether `uplink:` (as written) names the interface with this ifName, ifAlias, ifIndex.

    The one rule, used by the probe (which interface's utilisation uses the contracted
    capacity) and by every reader (which interface is the site's uplink)."""
    return uplink in (name, alias, index)


# `192.0.2.1:161`, `router.example:1161`, `[2001:db8::1]:161` (a bare IPv6 address has no port)
_HOST_PORT = re.compile(
    r"^(?:\[(?P<host6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class SnmpCheck:
    """One SNMP device polled every `interval`: IF-MIB interfaces, uptime, user OIDs and
    the device's profiles."""

    name: str = key(doc="the check's name: tag `device`; unique among the snmp checks")
    address: str = key(doc="IPv4 or IPv6 address, or a host name (resolved when the probe "
                       "opens); `host:port` and `[v6]:port` are accepted too")
    port: int = key(161, doc="UDP port", low=1, high=65535)
    version: Literal["1", "2c", "3"] = key("2c", doc="the SNMP version")
    community: Secret = key(_PUBLIC, doc="v1/v2c community")
    v3: SnmpV3User | None = key(None, doc="v3 credentials, below; required with "
                                "`version: \"3\"`")
    interval: Seconds = key(_MINUTE, doc="time between cycles", positive=True)
    timeout: Seconds | None = key(None, doc="whole-cycle limit: a device that has not "
                                  "answered everything by then is `up=0`", positive=True,
                                  default_doc="the interval")
    request_timeout: Seconds = key(_TWO_SECONDS, doc="wait for one answer before resending",
                                   positive=True)
    retries: int = key(1, doc="resends after a request timed out", low=0)
    max_repetitions: int = key(25, doc="rows per GETBULK request; halved automatically when "
                               "the device answers tooBig", low=1)
    max_concurrent: int = key(32, doc="requests waiting for an answer at once over the "
                              "whole agent, a device holding one for one request at a time "
                              "(the smallest value among the snmp checks applies)", low=1)
    max_rows: int = key(10_000, doc="rows one table column may have in one walk; past it the "
                        "cycle ends with `up=0` (a device that answers without end)",
                        low=1, high=10_000_000)
    site: str | None = key(None, doc="tag `site`", default_doc="`agent.site`")
    interfaces: InterfaceSelection = key(factory=InterfaceSelection, doc="which interfaces "
                                         "become `interface` points, below",
                                         default_doc="every interface that is up, less "
                                         "loopbacks")
    metadata_refresh: Seconds = key(_FIVE_MINUTES, doc="interface names, aliases and speeds "
                                    "are re-read at least this often (and whenever "
                                    "ifTableLastChange moves)", positive=True)
    uplink: str | None = key(None, doc="ifName, ifAlias or ifIndex of the site's uplink on "
                             "this device")
    capacity_down: BitsPerSecond | None = key(None, doc="capacity of the uplink's **in** "
                                              "direction (the site's download)",
                                              positive=True,
                                              default_doc="the site's `capacity.down`")
    capacity_up: BitsPerSecond | None = key(None, doc="capacity of the uplink's **out** "
                                            "direction (the site's upload)", positive=True,
                                            default_doc="the site's `capacity.up`")
    oids: tuple[SnmpOid, ...] = key((), doc="user-declared OIDs, below")
    profile: str = key("auto", doc="the device profile: `auto` picks the profile whose "
                       "sysObjectID prefix matches (read on the first cycle), `none` polls "
                       "none, or a profile's name (a shipped one, docs/profiles.md, or one of "
                       "`agent.snmp_profiles`). Its points go to `radio`, `power` and "
                       "`sensor`")
    # The profiles the agent knows (shipped + agent.snmp_profiles), set by the config loader;
    # None: the shipped ones. Not a key; not compared (every check shares the one catalogue).
    profiles: Catalog | None = field(default=None, metadata={"internal": True}, repr=False,
                                     compare=False)

    def __post_init__(self) -> None:
        if (hostport := _HOST_PORT.match(self.address)) is not None:
            host = hostport.group("host6") or hostport.group("host")
            port = int(hostport.group("port"))
            if self.port not in (161, port):
                raise ValueError(f"snmp check {self.name!r}: address gives port {port} but "
                                 f"port: {self.port}; keep one of them")
            # Frozen: the parsed parts replace the written form once, here.
            object.__setattr__(self, "address", host)
            object.__setattr__(self, "port", port)
        if self.version == "3" and self.v3 is None:
            raise ValueError(f"snmp check {self.name!r}: version 3 needs a `v3:` section "
                             "(username, auth_protocol, auth_key, ...)")
        names = [o.field for o in self.oids]
        taken = set(names) | {f"{o.field}_per_s" for o in self.oids if o.rate}
        if len(taken) != len(names) + sum(o.rate for o in self.oids):
            raise ValueError(f"snmp check {self.name!r}: oids fields must be distinct "
                             "(a rate adds <field>_per_s)")
