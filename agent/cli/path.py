"""`linkwatch trace` and `linkwatch discover`: the path probe on demand, and LAN discovery."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkwatch.agent.cli.options import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, Duration, echo

_FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                       default="table", show_default=True, help="Output format.")


@click.command()
@click.argument("target")
@click.option("--max-hops", default=30, show_default=True, type=click.IntRange(1, 64),
              help="Highest TTL probed.")
@click.option("--probes", default=3, show_default=True, type=click.IntRange(1, 10),
              help="Probes per hop.")
@click.option("--timeout", "timeout_s", default="2s", show_default=True,
              type=Duration(0.1, 30), help="How long to wait for answers (500ms, 2s).")
@click.option("--udp", is_flag=True, help="Send UDP probes (ports 33434 and up), not ICMP echo.")
@_FORMAT
def trace(target: str, max_hops: int, probes: int, timeout_s: float, udp: bool,
          fmt: str) -> None:
    """Trace the path to TARGET (an IPv4 or IPv6 address, or a name), as the agent does on
    an outage.

    Prints one row per hop with each probe's round trip; `*` is a probe with no answer,
    `!N`/`!H`/`!X` a router saying the network/host is unreachable or filtered. A hop that
    stays silent is asked again, a second apart (routers limit their answers). Needs
    CAP_NET_RAW (run as root, or see docs/path.md#privileges). Exit status 0 when the
    target answered, 3 when the path ended before it, 2 on a usage problem.

    \b
    Examples:
      linkwatch trace 10.20.0.1
      linkwatch trace ::1
      linkwatch trace router.ngoc-vung.example --max-hops 12 --format json
    """
    import asyncio
    import random
    import socket

    from linkwatch.agent.cli.table import render
    from linkwatch.collector.path.check import TraceSettings
    from linkwatch.collector.path.fields import describe_break, path_fields
    from linkwatch.collector.path.traceroute import TraceUnavailableError, traceroute

    try:
        found = socket.getaddrinfo(target, None, type=socket.SOCK_DGRAM)
        address = next(str(info[4][0]) for info in found
                       if info[0] in (socket.AF_INET, socket.AF_INET6))
    except (OSError, StopIteration) as e:
        _fail(f"cannot resolve {target!r} to an IP address: {e}")
    settings = TraceSettings(max_hops=max_hops, probes=probes, timeout_s=timeout_s,
                             protocol="udp" if udp else "icmp")
    try:
        result = asyncio.run(traceroute(address, settings, ident=random.getrandbits(16)))
    except TraceUnavailableError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot trace toward {address}: {e}")
    summary = describe_break(path_fields(result))
    if fmt == "json":
        import json

        echo(json.dumps({
            "target": target, "address": address, "reached": result.reached,
            "summary": summary, "no_route": result.unsent is not None,
            "hops": [{"hop": h.number, "replies": [
                None if r is None else {"address": r.address, "rtt_ms": r.rtt_ms,
                                        **({"mark": r.mark} if r.mark else {})}
                for r in h.replies]} for h in result.hops],
        }, indent=2))
    else:
        columns = ["hop", "address", *(f"probe{i + 1}" for i in range(probes))]
        click.echo(render(_trace_rows(result), fmt, columns))
        if fmt == "table":
            echo(f"\n{target} ({address}): {summary}")
            if result.unsent is not None:
                echo(result.unsent, err=True)
    sys.exit(EXIT_OK if result.reached else EXIT_UNREACHABLE)


def _trace_rows(result) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    hops = list(result.hops)
    end = len(hops)
    while end > 0 and not hops[end - 1].answered:
        end -= 1
    for hop in hops[:end]:
        addresses = dict.fromkeys(r.address for r in hop.replies if r is not None)
        row: dict[str, object] = {"hop": hop.number, "address": ", ".join(addresses) or "*"}
        for i, reply in enumerate(hop.replies):
            row[f"probe{i + 1}"] = "*" if reply is None else (
                f"{reply.rtt_ms:.3f} ms" + (f" {reply.mark}" if reply.mark else ""))
        rows.append(row)
    if end < len(hops):  # the silent tail as one row, as the `path` point's hops field has it
        first, last = hops[end].number, hops[-1].number
        row = {"hop": str(first) if first == last else f"{first}-{last}", "address": "*"}
        rows.append(row | {f"probe{i + 1}": "*" for i in range(len(hops[-1].replies))})
    return rows


@click.command()
@click.option("--subnet", required=True, help="A directly attached IPv4 subnet, e.g. "
              "192.168.10.0/24 (at most a /16).")
@click.option("--interface", help="The interface to sweep on. Default: the one the routes "
              "attach the subnet to.")
@click.option("--snmp-community", "communities", multiple=True,
              envvar="LINKWATCH_SNMP_COMMUNITY", show_envvar=True,
              help="SNMPv2c community to try; repeat for several (default: public). Given "
              "here it shows in `ps`: prefer the environment variable (several separated by "
              "spaces) or --snmp-community-file.")
@click.option("--snmp-community-file", "community_file",
              type=click.Path(dir_okay=False, path_type=Path),
              help="A file of communities to try, one a line (`#` starts a comment).")
@click.option("--rate", default=100.0, show_default=True, type=click.FloatRange(1, 5000),
              help="ARP requests per second.")
@click.option("--timeout", "timeout_s", default="1s", show_default=True,
              type=Duration(0.1, 30), help="How long to wait for ARP and SNMP answers.")
@click.option("--config-snippet", is_flag=True,
              help="Print the `checks:` YAML for what was found, instead of the table.")
@click.option("--profiles", "profile_dir", type=click.Path(file_okay=False, path_type=Path),
              help="A directory of your own device profiles (as agent.snmp_profiles), "
              "considered beside the shipped ones.")
@_FORMAT
def discover(subnet: str, interface: str | None, communities: tuple[str, ...],
             community_file: Path | None, rate: float, timeout_s: float, config_snippet: bool,
             profile_dir: Path | None, fmt: str) -> None:
    """Find the hosts of a LAN: an ARP sweep, then SNMP sysName/sysDescr/sysObjectID where
    they answer, and the device profile each SNMP device would get (docs/profiles.md).

    Needs CAP_NET_RAW (run as root). Sends `--rate` ARP requests per second (a /24 takes
    about 3 s at the default) with a progress bar on a terminal, then asks every host
    that answered for its SNMP system group.

    \b
    Examples:
      linkwatch discover --subnet 192.168.10.0/24
      linkwatch discover --subnet 10.5.0.0/22 --snmp-community-file /root/communities \\
          --config-snippet >> found.yaml
      LINKWATCH_SNMP_COMMUNITY='public dept-ro' linkwatch discover --subnet 10.5.0.0/22
      linkwatch discover --subnet 10.20.7.0/24 --profiles /etc/linkwatch/profiles
    """
    import asyncio

    from linkwatch.agent.cli.table import render
    from linkwatch.collector.path.arp import SweepError, find_interface, parse_subnet, sweep
    from linkwatch.collector.path.identify import identify
    from linkwatch.collector.path.snippet import config_snippet as snippet
    from linkwatch.collector.path.snippet import profile_of
    from linkwatch.collector.snmp.profiles import ProfilesInvalid, load_catalog

    communities = (*communities, *_communities_in(community_file)) or ("public",)
    try:
        catalog = load_catalog(profile_dir)
    except ProfilesInvalid as e:
        _fail(f"the device profiles cannot be read:\n{e}")
    try:
        network = parse_subnet(subnet)
        iface = find_interface(network, interface)
    except SweepError as e:
        _fail(str(e))
    except ImportError as e:
        _fail(f"discovery needs scapy: pip install 'linkwatch[path]' ({e})")
    try:
        neighbours = _sweep(sweep, network, iface, rate, timeout_s)
    except PermissionError:
        _fail("discovery needs a raw socket: run it as root or with CAP_NET_RAW — "
              "see docs/path.md#privileges")
    identities = asyncio.run(identify([n.address for n in neighbours], communities,
                                      timeout_s=timeout_s)) if communities else {}
    if config_snippet:
        echo(snippet(neighbours, identities, profiles=catalog), nl=False)
        return
    rows = []
    for n in neighbours:
        row: dict[str, object] = {"address": n.address, "mac": n.mac}
        if (found := identities.get(n.address)) is not None:
            descr = " ".join((found.sys_descr or "").split())[:50]
            row |= {"sys_name": found.sys_name, "sys_descr": descr or None,
                    "sys_object_id": found.sys_object_id,
                    "profile": profile_of(found, catalog)}
        rows.append(row)
    click.echo(render(rows, fmt, ["address", "mac", "sys_name", "sys_descr", "sys_object_id",
                                  "profile"]))
    if fmt == "table":
        echo(f"\n{len(neighbours)} hosts answered ARP on {network} ({iface.name}), "
                   f"{len(identities)} answered SNMP", err=True)


def _communities_in(path: Path | None) -> tuple[str, ...]:
    """The communities of a file, one a line; blank lines and `#` comments left out."""
    if path is None:
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"cannot read the communities in {path}: {getattr(e, 'strerror', None) or e}")
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not line.lstrip().startswith("#"))


def _sweep(sweep, network, iface, rate: float, timeout_s: float):
    hosts = max(network.num_addresses - 2, 1)
    # a bar only where someone watches, and only when the sweep takes a while
    if not sys.stderr.isatty() or hosts / rate < 2:
        return sweep(network, interface=iface, rate=rate, wait_s=timeout_s)
    with click.progressbar(length=hosts, label=f"ARP {network}", file=sys.stderr) as bar:
        return sweep(network, interface=iface, rate=rate, wait_s=timeout_s, progress=bar.update)


def _fail(message: str):
    echo(f"linkwatch: {message}", err=True)
    sys.exit(EXIT_USAGE)
