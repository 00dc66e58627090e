"""Alerts: the rule evaluation's CPU per cycle beside the probe cycle's own, and the latency
from the Nth failed cycle to the mail in a real SMTP server's inbox.

    sudo python bench/alerts.py [--targets 1000] [--devices 100] [--cycles 20] [--cuts 5]

(a) Evaluation. A district of `--targets` ping targets (100 communes of 10, each commune
    behind the district) and `--devices` SNMP devices, each with an uplink, judged by the
    real engine on a real spool: CPU (process time) of `Engine.observe` per cycle of every
    sample the probes make, steady and in the cycle a commune is cut (its alert recorded,
    the targets behind it suppressed), and the start-up replay of the history.
    Beside it, the probe cycle itself, measured the same way: one warm cycle of the real ping
    probe over as many loopback targets (5 echoes each; bench/ping_cycle.py), and one steady
    cycle of the real SNMP probe over `--devices` devices of a local snmpd (bench/snmp_poll.py:
    as root, a 48-port device in a namespace); the evaluation gets as many interface samples
    per device as that snmpd had. Target: evaluation under 10 % of the probe cycle.
(b) Latency (root: network namespaces). The real agent (`linkwatch agent run`) pings a target
    across a veth pair every second (N = 3); aiosmtpd listens beside it. The link is cut
    `--cuts` times: from the end of the Nth failed cycle (its sample's time + interval, read
    from the agent's spool) to the mail's arrival in the inbox (the file aiosmtpd wrote), and
    the same for the resolved mail from the first good cycle. No traffic leaves the
    namespaces.

No assertion: figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from linkwatch.agent.alerts.evaluate import Engine  # noqa: E402
from linkwatch.agent.config import load_config  # noqa: E402
from linkwatch.agent.spool import open_spool  # noqa: E402
from linkwatch.collector.sample import Sample  # noqa: E402

S = 10**9


def _bench_module(name: str):
    """Another bench script, to measure the probe cycle the way it does."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module            # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# -- (a) evaluation -------------------------------------------------------------------------

def district(directory: Path, targets: int, devices: int) -> Path:
    communes = max(1, targets // 10)
    sites = ["  - {name: district}"] + [f"  - {{name: c{i:03d}, parent: district}}"
                                       for i in range(communes)]
    pings = [f"    - {{name: t{i:04d}, address: 192.0.2.{i % 250 + 1}, site: c{i // 10:03d}, "
             "interval: 60s, path_probe: false}" for i in range(targets)]
    snmp = [f"    - {{name: d{i:03d}, address: 192.0.2.{i % 250 + 1}, site: c{i % communes:03d},"
            " uplink: if1, interval: 60s}" for i in range(devices)]
    path = directory / "district.yaml"
    path.write_text(textwrap.dedent("""\
        agent: {name: bench, site: district, timezone: UTC,
                spool: {path: spool.db, max_size: 1GiB}}
        alerts: {language: vi}
        notify:
          webhook: [{name: hook, url: "http://127.0.0.1:9/x"}]
        sites:
        """) + "\n".join(sites) + "\nchecks:\n  ping:\n" + "\n".join(pings)
        + "\n  snmp:\n" + "\n".join(snmp) + "\n")
    return path


def cycle_samples(config, now: int, interfaces: int, down: set[str]) -> list[Sample]:
    """One cycle of every check, shaped as the probes make them."""
    out = []
    for c in config.checks.of("ping"):
        up = 0 if c.name in down else 1
        fields = {"sent": 5, "received": 5 * up, "loss_pct": 100.0 * (1 - up), "up": up}
        if up:
            fields |= {"rtt_min_ms": 20.1, "rtt_avg_ms": 24.0, "rtt_max_ms": 31.5,
                       "rtt_mdev_ms": 3.2, "jitter_ms": 2.1}
        out.append(Sample("ping", {"agent": "bench", "site": c.site, "target": c.name,
                                   "address": c.address}, fields, now))
    for c in config.checks.of("snmp"):
        out.append(Sample("device", {"agent": "bench", "site": c.site, "device": c.name,
                                     "address": c.address},
                          {"up": 1, "sys_uptime_s": 1e6, "poll_ms": 12.0, "counter_reset": 0},
                          now))
        for i in range(1, interfaces + 1):
            out.append(Sample("interface", {
                "agent": "bench", "site": c.site, "device": c.name, "if_index": str(i),
                "if_name": f"if{i}"}, {
                "in_octets": 10**9, "out_octets": 10**9, "in_bps": 4e6, "out_bps": 1e6,
                "in_util_pct": 40.0, "out_util_pct": 10.0, "speed_bps": 1e7,
                "oper_status": 1, "admin_status": 1, "in_errors": 0, "out_errors": 0,
                "in_discards": 0, "out_discards": 0}, now))
    return out


def evaluation(targets: int, devices: int, interfaces: int, cycles: int) -> dict:
    logging.getLogger("linkwatch").setLevel(logging.ERROR)     # the alerts' own log lines
    work = Path(tempfile.mkdtemp(prefix="lw-bench-alerts-"))
    config = load_config(district(work, targets, devices))
    spool = open_spool(config)
    clock = [time.time_ns() - 3 * 3600 * S]
    try:
        engine = Engine(config, spool, time_ns=lambda: clock[0])
        engine.start()
        history = 20                                   # warm windows (quality, saturation)
        for _ in range(history):
            clock[0] += 60 * S
            batch = cycle_samples(config, clock[0], interfaces, set())
            spool.append(batch)
            engine.observe(batch)
        steady = []
        for _ in range(cycles):
            clock[0] += 60 * S
            batch = cycle_samples(config, clock[0], interfaces, set())
            spool.append(batch)
            t = time.process_time()
            engine.observe(batch)
            steady.append(time.process_time() - t)
        cut = {c.name for c in config.checks.of("ping") if c.site == "c000"}
        cut_cycles = []
        for _ in range(4):                              # the 3rd fires (N = 3)
            clock[0] += 60 * S
            batch = cycle_samples(config, clock[0], interfaces, cut)
            spool.append(batch)
            t = time.process_time()
            engine.observe(batch)
            cut_cycles.append(time.process_time() - t)
        firing = sum(1 for r in spool.alerts() if r.state == "firing")
        t = time.process_time()
        again = Engine(config, spool, time_ns=lambda: clock[0])
        again.start()
        start_cpu = time.process_time() - t
        return {"samples": len(batch), "steady": steady, "cut": cut_cycles,
                "firing": firing, "start_cpu": start_cpu, "history": history + cycles + 4}
    finally:
        spool.close()


def probe_cycle_cpu(targets: int, devices: int) -> dict:
    """One warm cycle of the real ping probe (bench/ping_cycle.py's measure) and one steady
    cycle of the real SNMP probe (bench/snmp_poll.py, run as it runs: as root, against a
    48-port device in a namespace), in CPU seconds."""
    ping_cycle = _bench_module("ping_cycle")
    addresses = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(targets)]
    ping = asyncio.run(ping_cycle._linkwatch(addresses, 5, 0.2))
    out = {"ping_cpu": ping.cpu_s, "ping_replies": f"{ping.replies}/{ping.expected}"}
    done = subprocess.run([sys.executable, str(REPO / "bench" / "snmp_poll.py"), "--devices",
                           str(devices), "--rounds", "1"], capture_output=True, text=True,
                          check=True)
    steady = re.search(r"steady cycle: ([0-9.]+) CPU s .*?, ([0-9]+) up", done.stdout)
    ports = re.search(r"; ([0-9]+) interfaces per device", done.stdout)
    if steady is None or ports is None:
        raise SystemExit(f"bench/snmp_poll.py said something unexpected:\n{done.stdout}")
    out["snmp_cpu"], out["snmp_up"] = float(steady.group(1)), int(steady.group(2))
    out["interfaces"] = int(ports.group(1))
    return out


# -- (b) latency ---------------------------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def latency(cuts: int) -> tuple[list[float], list[float], list[float]]:
    from tests.faults.harness import AgentProcess, wait_for
    from tests.servers.smtp import SmtpProcess

    tag = uuid.uuid4().hex[:6]
    near, far = f"lwbn-{tag}", f"lwbf-{tag}"
    work = Path(tempfile.mkdtemp(prefix="lw-bench-latency-"))
    for ns in (near, far):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    agent = smtp = None
    try:
        # the namespaces' veth pair: the target answers at 198.51.100.2
        _ip("-n", near, "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", far)
        _ip("-n", near, "addr", "add", "198.51.100.1/24", "dev", "a0")
        _ip("-n", near, "link", "set", "a0", "up")
        _ip("-n", far, "addr", "add", "198.51.100.2/24", "dev", "b0")
        _ip("-n", far, "link", "set", "b0", "up")
        config = work / "agent.yaml"
        config.write_text(textwrap.dedent("""\
            agent: {name: bench, site: lan, timezone: UTC, spool: {path: spool.db}}
            sites: [{name: lan}, {name: commune, parent: lan}]
            alerts: {language: en, outage_cycles: 3, flapping: {changes: 0}}   # cut again and again
            notify:
              retry_max: 2s
              email: [{name: it, server: 127.0.0.1, port: 2525, security: none,
                       sender: a@lan.example, to: [it@lan.example], max_per_hour: 1000}]
            checks:
              ping: [{name: router, address: 198.51.100.2, site: commune, interval: 1s,
                      count: 1, path_probe: false}]
            """))
        smtp = SmtpProcess(near, work / "mail").start()
        agent = AgentProcess(config, prefix=("ip", "netns", "exec", near)).start()
        agent.wait_started()
        fire, resolve, from_cut = [], [], []
        for i in range(cuts):
            wait_for(lambda: _newest_up(work) == 1, 60, "the router to answer")
            _ip("-n", far, "link", "set", "b0", "down")
            cut = time.time()
            arrived = _mail(smtp, 2 * i + 1)
            fire.append(arrived - _known(work, 3))
            from_cut.append(arrived - cut)
            _ip("-n", far, "link", "set", "b0", "up")
            arrived = _mail(smtp, 2 * i + 2)
            resolve.append(arrived - _known(work, 0))
        return fire, resolve, from_cut
    finally:
        if agent is not None and agent.alive:
            agent.stop()
        if smtp is not None:
            smtp.stop()
        for ns in (near, far):
            subprocess.run(["ip", "netns", "del", ns], check=False)


def _samples(work: Path) -> list[tuple[int, int]]:
    from linkwatch.agent.datamodel.lineprotocol import decode

    with sqlite3.connect(f"file:{work / 'spool.db'}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT line FROM point WHERE measurement = 'ping' ORDER BY time_ns")
        found = [decode(bytes(line)) for (line,) in rows]
    return [(s.time_ns, int(s.fields["up"])) for s in found]


def _newest_up(work: Path) -> int | None:
    if not (work / "spool.db").exists():
        return None
    samples = _samples(work)
    return samples[-1][1] if samples else None


def _known(work: Path, n: int) -> float:
    """When the Nth failed cycle of the newest DOWN run was known: its sample's time plus
    the cycle's timeout (1 s; no echo came back). n = 0: the first good cycle after it, known
    at its sample's time (the echo is back within a millisecond). In unix seconds."""
    samples = _samples(work)
    runs: list[list[tuple[int, int]]] = []
    for s in samples:
        if runs and runs[-1][-1][1] == s[1]:
            runs[-1].append(s)
        else:
            runs.append([s])
    downs = [i for i, r in enumerate(runs) if r[0][1] == 0]
    if n:
        return runs[downs[-1]][n - 1][0] / 1e9 + 1.0
    return runs[downs[-1] + 1][0][0] / 1e9


def _mail(smtp, count: int) -> float:
    smtp.wait_for(lambda m: len(m) >= count, 120, f"mail {count}")
    newest = sorted(smtp.maildir.glob("*.eml"))[count - 1]
    return newest.stat().st_mtime


# -- report --------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--cuts", type=int, default=5)
    parser.add_argument("--no-latency", action="store_true", help="skip (b)")
    args = parser.parse_args()

    probes = probe_cycle_cpu(args.targets, args.devices)
    e = evaluation(args.targets, args.devices, probes["interfaces"], args.cycles)
    probe_cpu = probes["ping_cpu"] + probes["snmp_cpu"]
    median = statistics.median(e["steady"])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"(a) {args.targets} ping targets + {args.devices} SNMP devices "
          f"({probes['interfaces']} interfaces each): {e['samples']} samples per cycle")
    print(f"    probe cycle: ping {probes['ping_cpu']:.3f} CPU s ({probes['ping_replies']} "
          f"replies), snmp {probes['snmp_cpu']:.3f} CPU s ({probes['snmp_up']} up); "
          f"total {probe_cpu:.3f} CPU s")
    print(f"    rule evaluation, steady: median {1000 * median:.1f} CPU ms per cycle, max "
          f"{1000 * max(e['steady']):.1f} ms = {100 * median / probe_cpu:.1f} % of the probe "
          f"cycle (target < 10 %)")
    print("    cycles of a commune cut (10 targets; N = 3): " + ", ".join(
        f"{1000 * c:.1f}" for c in e["cut"]) + f" CPU ms; {e['firing']} firing after")
    print(f"    start-up replay of {e['history']} cycles of history: {e['start_cpu']:.2f} CPU s")
    if args.no_latency:
        return 0
    if os.geteuid() != 0:
        print("(b) skipped: network namespaces need root")
        return 0
    fire, resolve, from_cut = latency(args.cuts)
    print(f"(b) the real agent, 1 s pings, N = 3, mail to aiosmtpd; {args.cuts} cuts")
    print("    Nth failed cycle known → DOWN mail in the inbox: " + ", ".join(
        f"{x:.2f}" for x in fire) + f" s (median {statistics.median(fire):.2f} s)")
    print("    first good cycle → RESOLVED mail: " + ", ".join(
        f"{x:.2f}" for x in resolve) + f" s (median {statistics.median(resolve):.2f} s)")
    print("    the cut → DOWN mail: " + ", ".join(f"{x:.2f}" for x in from_cut)
          + " s (the acceptance bound: N × interval + 10 s = 13 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
