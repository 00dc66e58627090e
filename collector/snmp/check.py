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
PrivProtocol = Literal["none", "des", "aes", "aes128", "aes192", "aes256"]

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
    `sha` is SHA-1; `aes` is AES-128.
    """

    username: str
    auth_protocol: AuthProtocol = "none"
    auth_key: Secret | None = None    # passphrase (≥ 8 characters), or `auth_key_file:`
    priv_protocol: PrivProtocol = "none"
    priv_key: Secret | None = None    # passphrase (≥ 8 characters), or `priv_key_file:`
    context_name: str = ""

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

    enabled: bool = True              # false: poll only `device` and the user OIDs
    names: tuple[str, ...] = ()       # exact ifName (ifDescr when ifName is empty)
    aliases: tuple[str, ...] = ()     # exact ifAlias
    regex: str | None = None          # searched in ifName and ifAlias
    indexes: tuple[int, ...] = ()     # ifIndex
    include_loopback: bool = False    # ifType softwareLoopback(24)
    include_down: bool = False        # oper or admin status not up(1)

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

    field: str
    oid: str                          # numeric, e.g. .1.3.6.1.4.1.9.9.109.1.1.1.1.8.1
    table: bool = False               # true: walk the column, one point per row
    rate: bool = False                # also emit `<field>_per_s` from the counter's delta
    scale: float = 1.0                # multiply numbers by this (e.g. 0.1 for tenths of dBm)

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

    name: str                         # tag `device`
    address: str                      # IPv4, IPv6 or a name; `host:port`, `[v6]:port` too
    port: int = 161
    version: Literal["1", "2c", "3"] = "2c"
    community: Secret = _PUBLIC   # v1/v2c; or `community_file:` / `${ENV}`
    v3: SnmpV3User | None = None      # required when version is 3
    interval: Seconds = _MINUTE
    timeout: Seconds | None = None    # whole-cycle limit; default: the interval
    request_timeout: Seconds = _TWO_SECONDS  # one request's wait for an answer
    retries: int = 1                  # resends after a request timed out
    max_repetitions: int = 25         # GETBULK rows per request
    max_concurrent: int = 32          # devices polled at once, shared by all snmp checks
    site: str | None = None           # default: the agent's site
    interfaces: InterfaceSelection = field(default_factory=InterfaceSelection)
    metadata_refresh: Seconds = _FIVE_MINUTES  # names, aliases, speeds re-read this often
    uplink: str | None = None         # ifName, ifAlias or ifIndex of the site's uplink
    capacity_down: BitsPerSecond | None = None  # uplink in-direction capacity (download)
    capacity_up: BitsPerSecond | None = None    # uplink out-direction capacity (upload)
    oids: tuple[SnmpOid, ...] = ()
    profile: str = key("auto", doc="device profile (docs/profiles.md): `auto` picks one by "
                       "sysObjectID, `none` polls none, or a profile's name")
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
        if self.retries < 0 or self.max_repetitions < 1 or self.max_concurrent < 1:
            raise ValueError(f"snmp check {self.name!r}: retries must be ≥ 0, "
                             "max_repetitions and max_concurrent ≥ 1")
