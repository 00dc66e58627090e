"""A district in network namespaces: the district server, the core switch, the LAN agent's
box, three communes behind shaped links, and an island with no link at all.

    srv  10.77.0.2 ── core ── 10.77.1.2  lan   (district LAN agent; snmpd on core)
                       │ 20 Mbit/s ── c1  10.77.11.2
                       │  2 Mbit/s ── c2  10.77.12.2   (the parent's radio hop)
                       │                 └ 0.5 Mbit/s ── c3  10.77.13.2   (island behind c2)
    c4: no link (an island that carries its data out by hand)

Links are veth pairs shaped with `tbf` in both directions. A cut takes both ends down, as
a radio that loses its peer reports its port down on both sides: a probe across it fails at
once, and nothing waits in a neighbour queue to be sent when the link is back (which would
answer an echo sent during the cut). Mending brings both ends up and puts back the routes
the kernel removed with them. All addresses exist only inside these namespaces.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.netns import ip, namespace, run

ROLES = ("srv", "core", "lan", "c1", "c2", "c3", "c4")
SERVER = "10.77.0.2"
SNMP_HOST = "10.77.1.1"          # the core switch's address on the LAN


@dataclass(frozen=True)
class Link:
    name: str
    up_role: str                  # the district side
    up_if: str
    up_addr: str
    down_role: str
    down_if: str
    down_addr: str
    rate: str | None = None       # tbf rate both ways, e.g. "20mbit"


LINKS = (
    Link("srv", "core", "core-srv", "10.77.0.1/24", "srv", "srv-eth", "10.77.0.2/24"),
    Link("lan", "core", "core-lan", "10.77.1.1/24", "lan", "lan-eth", "10.77.1.2/24"),
    Link("c1", "core", "core-c1", "10.77.11.1/24", "c1", "c1-up", "10.77.11.2/24", "20mbit"),
    Link("c2", "core", "core-c2", "10.77.12.1/24", "c2", "c2-up", "10.77.12.2/24", "2mbit"),
    Link("c3", "c2", "c2-c3", "10.77.13.1/24", "c3", "c3-up", "10.77.13.2/24", "500kbit"),
)
# role -> (destination, gateway)
ROUTES = (
    ("srv", "default", "10.77.0.1"), ("lan", "default", "10.77.1.1"),
    ("c1", "default", "10.77.11.1"), ("c2", "default", "10.77.12.1"),
    ("c3", "default", "10.77.13.1"), ("core", "10.77.13.0/24", "10.77.12.2"),
)
ROUTERS = ("core", "c2")
# tbf: a burst of a few full frames at the slow rates, ~2 ms of traffic at the fast one
BURST = {"20mbit": "64kb", "2mbit": "16kb", "500kbit": "8kb"}


@dataclass
class District:
    netns: dict[str, str]                # role -> namespace name
    links: dict[str, Link]

    def exec(self, role: str, *command: str) -> list[str]:
        """`command` prefixed to run in `role`'s namespace."""
        return ["ip", "netns", "exec", self.netns[role], *command]

    def cut(self, link: str) -> None:
        found = self.links[link]
        ip(self.netns[found.up_role], "link", "set", found.up_if, "down")
        ip(self.netns[found.down_role], "link", "set", found.down_if, "down")

    def mend(self, link: str) -> None:
        found = self.links[link]
        ip(self.netns[found.down_role], "link", "set", found.down_if, "up")
        ip(self.netns[found.up_role], "link", "set", found.up_if, "up")
        self.route()

    def route(self) -> None:
        """Every static route, again (a link taken down takes the routes over it away)."""
        for role, destination, gateway in ROUTES:
            ip(self.netns[role], "route", "replace", destination, "via", gateway)


@contextmanager
def district() -> Iterator[District]:
    """The namespaces, links and routes; all removed on exit."""
    tag = uuid.uuid4().hex[:4]
    with ExitStack() as stack:
        names = {role: stack.enter_context(namespace(f"lwd{tag}-{role}")) for role in ROLES}
        for link in LINKS:
            up, down = names[link.up_role], names[link.down_role]
            ip(up, "link", "add", "name", link.up_if, "type", "veth", "peer", "name",
               link.down_if, "netns", down)
            for ns, dev, addr in ((up, link.up_if, link.up_addr),
                                  (down, link.down_if, link.down_addr)):
                ip(ns, "addr", "add", addr, "dev", dev)
                ip(ns, "link", "set", dev, "up")
                if link.rate:
                    shaped = run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev,
                                  "root", "tbf", "rate", link.rate, "burst", BURST[link.rate],
                                  "latency", "50ms"])
                    assert shaped.returncode == 0, shaped.stderr
        for role in ROUTERS:
            done = run(["ip", "netns", "exec", names[role], "sysctl", "-qw",
                        "net.ipv4.ip_forward=1"])
            assert done.returncode == 0, done.stderr
        found = District(names, {link.name: link for link in LINKS})
        found.route()
        yield found


# --------------------------------------------------------------------------------- configs

PING_S = 2
SNMP_S = 5
SITES = [
    {"name": "district-lan", "capacity": {"down": "100Mbps", "up": "100Mbps"}},
    {"name": "c1", "parent": "district-lan", "capacity": {"down": "20Mbps", "up": "20Mbps"}},
    {"name": "c2", "parent": "district-lan", "capacity": {"down": "2Mbps", "up": "2Mbps"}},
    {"name": "c3", "parent": "c2", "capacity": {"down": "500kbps", "up": "500kbps"}},
    {"name": "c4", "parent": "district-lan"},
]


def _agent(name: str, site: str, spool: Path, checks: dict, **more: object) -> str:
    """An agent's config: every agent ships to the district server's InfluxDB."""
    return yaml.safe_dump({
        "agent": {"name": name, "site": site,
                  "spool": {"path": str(spool), "max_size": "64MiB", "history": "1d"}},
        "outputs": [{"type": "influxdb", "url": f"http://{SERVER}:8086",
                     "database": "district", "version": "1", "timeout": "3s"}],
        "sites": SITES,
        "checks": {**checks, "host": {"interval": "10s"}},
        **more,
    }, sort_keys=False)


def ping(name: str, address: str, site: str | None = None) -> dict:
    check = {"name": name, "address": address, "interval": f"{PING_S}s", "count": 1,
             "timeout": "1500ms", "path_probe": False}
    return check | ({"site": site} if site else {})


def lan_agent(spool: Path, snmp_port: int, community: str, island_key: str) -> str:
    """The district LAN agent: each commune's router, the server, and the core switch's
    uplink ports to c1 and c2 over SNMP (the `in` of a port is what the commune sends).
    Its config is the district server's, which imports the island's signed exports:
    `island_key` is the public key `linkwatch keys` printed on the island."""
    uplinks = [{"name": f"core-{site}", "address": SNMP_HOST, "port": snmp_port,
                "version": "2c", "community": community, "interval": f"{SNMP_S}s",
                "timeout": "4s", "site": site, "uplink": f"core-{site}",
                "interfaces": {"names": [f"core-{site}"]}} for site in ("c1", "c2")]
    pings = [ping("c1-router", "10.77.11.2", "c1"), ping("c2-router", "10.77.12.2", "c2"),
             ping("c3-router", "10.77.13.2", "c3"), ping("server", SERVER)]
    trusted = [{"agent": "c4-agent", "public_key": island_key, "sites": ["c4"]}]
    return _agent("district-agent", "district-lan", spool, {"ping": pings, "snmp": uplinks},
                  carry={"trusted": trusted})


def commune_agent(site: str, spool: Path) -> str:
    """A commune's own agent: it pings the district server across its link."""
    return _agent(f"{site}-agent", site, spool, {"ping": [ping("district", SERVER)]})


def island_agent(spool: Path) -> str:
    """The island with no link: its output is the district server it can never reach."""
    return _agent("c4-agent", "c4", spool, {"ping": [ping("loopback", "127.0.0.1")]})
