"""From a district to a province: the query verbs and the month's report over a month of
one-minute data, on InfluxDB 1.6.7 and victoria-metrics, next to each store's floor, and the
ingest of the month next to curl. Prints every figure side by side; asserts only that every
answer is complete (a fast but partial answer cannot pass).

    python bench/scale.py [--days 30] [--rounds 2] [--scratch /var/tmp] [--skip-province]

Scales (sites × ping targets, and × interfaces, one-minute points, ending now):
  district   50 sites × 4 targets, × 4 interfaces  =   200 + 200   (InfluxDB and VM)
  province  250 sites × 8 targets, × 8 interfaces  = 2,000 + 2,000 (VM)
Each target has six planted outages and flaps, each interface a three-hour gap
(bench/query.py's generators).

Measured, best of --rounds, each a fresh `python -m linkwatch` process (start-up included):
  uptime, bandwidth, outages, top --since 30d; report --since 30d for every site (HTML);
  floor: the store's simplest count over the same points through curl (ping `up` points for
  uptime/outages, the interface rate points for bandwidth, both for top and the report);
  the report also as CSV (the same queries, no charts to draw); the CLI's own start-up
  (`config check` of the same config);
  ingest: the agent's victoria-metrics writer (batches of 5,000 lines, gzip level 1 as the
  agent sends them, and without gzip, one request at a time) against curl posting the same
  bodies over one connection, on the first 2 million points of the district month, best of
  --rounds in turn; the whole month through the writer; and bytes per point on disk (here,
  and with `--disk-only` for the demo month of docs/examples/district.yaml, whose values
  vary as real ones do: the generators' compress far better than real data).
Targets: each verb < 1 s district / < 2 s province on VM and within 3x of its floor; the
province report < 60 s; ingest >= 90 % of curl.

Heavy: the province month is 173 million lines (about 1.1 billion values), written in ten
to twenty minutes; the scratch directory (several GB) is removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.query import interface_lines, ping_lines, settle  # noqa: E402
from linkwatch.agent.config.schema import VictoriaOutput  # noqa: E402
from linkwatch.agent.outputs.influx_v1 import GZIP_LEVEL  # noqa: E402
from linkwatch.agent.outputs.victoria import VictoriaWriter  # noqa: E402
from linkwatch.collector.units import Seconds  # noqa: E402
from tests.servers.influxdb import start_influxd  # noqa: E402
from tests.servers.victoria import start_victoria  # noqa: E402

DB = "linkwatch"
BATCH = 5000                       # the agent's default batch_size
FILL_BATCH = 50_000
COMPARE = 400                      # batches (2 million points) in the ingest comparison
VERBS = ("uptime", "bandwidth", "outages", "top")
TARGET_S = {"district": 1.0, "province": 2.0}


@dataclass(frozen=True)
class Scale:
    name: str
    sites: int
    targets: int                   # per site
    interfaces: int                # per site

    @property
    def series(self) -> str:
        return f"{self.sites * self.targets:,} + {self.sites * self.interfaces:,}"


DISTRICT = Scale("district", 50, 4, 4)
PROVINCE = Scale("province", 250, 8, 8)


@dataclass
class Figures:
    """What one store at one scale measured (seconds, or None when not run)."""

    verbs: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)
    report: float | None = None
    points: int = 0
    values: int = 0
    disk_bytes: int = 0


# -- data -----------------------------------------------------------------------------------

def jobs(scale: Scale) -> list[tuple[str, int, int]]:
    return ([("ping", s, t) for s in range(scale.sites) for t in range(scale.targets)]
            + [("interface", s, i) for s in range(scale.sites)
               for i in range(1, scale.interfaces + 1)])


def lines_of(job: tuple[str, int, int], start_s: int, minutes: int) -> list[bytes]:
    kind, a, b = job
    return (ping_lines if kind == "ping" else interface_lines)(a, b, start_s, minutes)


def _fill_worker(args: tuple[str, str, list[tuple[str, int, int]], int, int]) -> tuple[int, int]:
    """One process's share of the month, written with the agent's writer."""
    kind, url, share, start_s, minutes = args
    writer = _writer(kind, url)
    points = values = 0
    try:
        for job in share:
            lines = lines_of(job, start_s, minutes)
            points += len(lines)
            values += sum(line.count(b",", line.index(b" ")) + 1 for line in lines)
            for i in range(0, len(lines), FILL_BATCH):
                result = writer.write(b"\n".join(lines[i:i + FILL_BATCH]))
                if not result.ok:
                    raise RuntimeError(f"{url}: {result}")
    finally:
        writer.close()
    return points, values


def _writer(kind: str, url: str):
    if kind == "vm":
        return VictoriaWriter(VictoriaOutput(type="victoriametrics", url=url,
                                             timeout=Seconds(300)))
    from linkwatch.agent.config.schema import InfluxOutput
    from linkwatch.agent.outputs.influx_v1 import V1Writer

    return V1Writer(InfluxOutput(type="influxdb", url=url, version="1", database=DB,
                                 timeout=Seconds(300)))


def fill(kind: str, url: str, scale: Scale, start_s: int, minutes: int,
         processes: int = 2) -> tuple[int, int, float]:
    """Writes the month of `scale`; returns points, values and seconds."""
    work = jobs(scale)
    shares = [work[i::processes] for i in range(processes)]
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        done = pool.map(_fill_worker, [(kind, url, share, start_s, minutes)
                                       for share in shares])
    return (sum(p for p, _ in done), sum(v for _, v in done),
            time.perf_counter() - started)


def bodies(root: Path, scale: Scale, start_s: int, minutes: int) -> list[tuple[Path, Path]]:
    """The month as the agent's batches: each (plain, gzipped) on disk."""
    root.mkdir(parents=True, exist_ok=True)
    found: list[tuple[Path, Path]] = []
    pending: list[bytes] = []

    def flush(chunk: list[bytes]) -> None:
        body = b"\n".join(chunk)
        plain, packed = root / f"{len(found):06d}.lp", root / f"{len(found):06d}.lp.gz"
        plain.write_bytes(body)
        packed.write_bytes(gzip.compress(body, GZIP_LEVEL))
        found.append((plain, packed))

    for job in jobs(scale):
        pending += lines_of(job, start_s, minutes)
        while len(pending) >= BATCH:
            flush(pending[:BATCH])
            pending = pending[BATCH:]
    if pending:
        flush(pending)
    return found


# -- ingest ---------------------------------------------------------------------------------

def ingest_with_writer(url: str, files: list[tuple[Path, Path]], *, gzip_on: bool) -> float:
    output = VictoriaOutput(type="victoriametrics", url=url, gzip=gzip_on,
                            timeout=Seconds(300))
    writer = VictoriaWriter(output)
    payloads = [plain.read_bytes() for plain, _ in files]
    started = time.perf_counter()
    try:
        for body in payloads:
            result = writer.write(body)
            if not result.ok:
                raise RuntimeError(f"{url}: {result}")
    finally:
        writer.close()
    return time.perf_counter() - started


def ingest_with_curl(url: str, files: list[tuple[Path, Path]], config: Path, *,
                     gzip_on: bool) -> float:
    with config.open("w") as f:
        for i, (plain, packed) in enumerate(files):
            f.write(("next\n" if i else "") + f'url = "{url}/write"\n')
            f.write(f'data-binary = "@{packed if gzip_on else plain}"\n')
            if gzip_on:
                f.write('header = "Content-Encoding: gzip"\n')
            f.write('output = "/dev/null"\nfail\n')
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "-K", str(config)], check=True)
    return time.perf_counter() - started


def count_vm(url: str, metric: str, days: int) -> int:
    query = urllib.parse.urlencode({"query": f"sum(count_over_time({metric}[{days}d]))",
                                    "nocache": "1"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=600) as r:
        result = json.load(r)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


# -- questions ------------------------------------------------------------------------------

def write_config(root: Path, scale: Scale, output: str) -> Path:
    lines = [f"agent: {{name: bench, site: site-00, spool: {{path: {root / 'spool.db'}}}}}",
             f"outputs: [{output}]", "sites:"]
    lines += [f"  - {{name: site-{s:02d}, capacity: {{down: 100Mbps, up: 40Mbps}}}}"
              for s in range(scale.sites)]
    lines += ["checks:", "  ping:"]
    lines += [f"    - {{name: site-{s:02d}-t{t}, address: 10.{s}.0.{t}, site: site-{s:02d}}}"
              for s in range(scale.sites) for t in range(scale.targets)]
    lines += ["  snmp:"]
    lines += [f"    - {{name: router-{s:02d}, address: 10.{s}.0.254, site: site-{s:02d}, "
              "uplink: port1}" for s in range(scale.sites)]
    path = root / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Failed(Exception):
    """A command of the bench did not succeed; the message says which and why."""


def timed(command: list[str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise Failed(f"{' '.join(command[2:5])} exited {done.returncode}: "
                     f"{done.stderr.decode()[-600:]}")
    return elapsed, done.stdout


def say(text: str) -> None:
    print(text, flush=True)


def floors(kind: str, url: str, days: int) -> dict[str, list[str]]:
    """The simplest count over the points each verb reads, as a curl command."""
    if kind == "vm":
        def ask(q: str) -> list[str]:
            return ["curl", "-sf", f"{url}/api/v1/query", "--data-urlencode", f"query={q}",
                    "--data", "nocache=1"]
        return {"up": ask(f"sum(count_over_time(ping_up[{days}d]))"),
                "rates": ask(f'sum(count_over_time({{__name__=~"interface_(in|out)_bps"}}'
                             f"[{days}d]))")}

    def influx(q: str) -> list[str]:
        return ["curl", "-sf", "-XPOST", f"{url}/query?db={DB}", "--data-urlencode", f"q={q}"]
    return {"up": influx(f"SELECT count(up) FROM ping WHERE time > now() - {days}d"),
            "rates": influx("SELECT count(in_bps), count(out_bps) FROM interface WHERE "
                            f"time > now() - {days}d")}


def ask_all(config: Path, kind: str, url: str, scale: Scale, args, root: Path) -> Figures:
    cli = [sys.executable, "-m", "linkwatch"]
    since = ["--since", f"{args.days}d", "--format", "json"]
    commands = {verb: [*cli, verb, "-c", str(config), *since] for verb in VERBS}
    commands["report"] = [*cli, "report", "-c", str(config), "--since", f"{args.days}d",
                          "--lang", "en", "-o", str(root / "report.html")]
    commands["report csv"] = [*cli, "report", "-c", str(config), "--since", f"{args.days}d",
                              "--format", "csv", "-o", str(root / "report.zip")]
    commands["start-up"] = [*cli, "config", "check", "-c", str(config)]
    ask = {f"floor {k}": v for k, v in floors(kind, url, args.days).items()}
    best = {name: float("inf") for name in [*commands, *ask]}
    outputs = {}
    for round_ in range(args.rounds):
        for name, command in [*commands.items(), *ask.items()]:
            try:
                elapsed, out = timed(command)
            except Failed as e:
                say(f"  {kind} {scale.name} {name}: FAILED {e}")
                continue
            say(f"  {kind} {scale.name} round {round_ + 1} {name}: {elapsed:.2f} s")
            best[name] = min(best[name], elapsed)
            outputs[name] = out
    targets = scale.sites * scale.targets
    if "uptime" in outputs:
        uptime = json.loads(outputs["uptime"])
        assert len([r for r in uptime if r["target"]]) == targets, "uptime is incomplete"
    if "bandwidth" in outputs:
        bandwidth = json.loads(outputs["bandwidth"])
        assert len(bandwidth) == 2 * scale.sites * scale.interfaces, \
            "bandwidth is incomplete"
    return Figures(verbs={v: best[v] for v in (*VERBS, "report csv", "start-up")},
                   floors={k.removeprefix("floor "): best[k] for k in ask},
                   report=best["report"])


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def demo_month_on_disk(root: Path) -> dict[str, float]:
    """Bytes per value of the demo month of docs/examples/district.yaml (values that vary
    as real ones do, unlike the generators above) in each store."""
    import dataclasses

    from linkwatch.agent.config import load_config
    from linkwatch.agent.config.schema import InfluxOutput
    from linkwatch.agent.datamodel.lineprotocol import encode
    from linkwatch.agent.operations.demo import samples
    from linkwatch.agent.outputs.influx_v1 import V1Writer
    from linkwatch.agent.query.timerange import Month

    # the month needs the sites and checks, not the secrets of the outputs and channels
    config = load_config(REPO / "docs" / "examples" / "district.yaml", environ={},
                         secrets=False)
    config = dataclasses.replace(config, outputs=())
    month = Month.parse("2026-10", config.tz)
    influx, vm = start_influxd(root / "demo-influx"), start_victoria(root / "demo-vm")
    values = 0
    try:
        influx.create_database(DB)
        writers = [V1Writer(InfluxOutput(type="influxdb", url=influx.url, version="1",
                                         database=DB, timeout=Seconds(300))),
                   VictoriaWriter(VictoriaOutput(type="victoriametrics", url=vm.url,
                                                 timeout=Seconds(300)))]
        for batch in samples(config, month):
            values += sum(len(s.fields) for s in batch)
            for i in range(0, len(batch), FILL_BATCH):
                body = b"\n".join(encode(s) for s in batch[i:i + FILL_BATCH])
                for writer in writers:
                    assert writer.write(body).ok
        for writer in writers:
            writer.close()
        settle(influx.url)
    finally:
        influx.stop()
        vm.stop()
    return {"influx": (disk_bytes(influx.root / "data") + disk_bytes(influx.root / "wal"))
            / values, "vm": disk_bytes(vm.root / "data") / values, "values": values}


# -- the run --------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--skip-province", action="store_true")
    parser.add_argument("--disk-only", action="store_true",
                        help="Only the bytes per value of the demo month in each store.")
    args = parser.parse_args()
    if args.disk_only:
        with tempfile.TemporaryDirectory(prefix="linkwatch-scale-", dir=args.scratch) as tmp:
            demo = demo_month_on_disk(Path(tmp))
        say(f"demo month ({demo['values']:,.0f} values): InfluxDB 1.6.7 "
            f"{demo['influx']:.2f} B/value, victoria-metrics {demo['vm']:.2f} B/value")
        return
    minutes = args.days * 1440
    start_s = int(time.time()) // 60 * 60 - minutes * 60
    root = Path(tempfile.mkdtemp(prefix="linkwatch-scale-", dir=args.scratch))
    results: dict[tuple[str, str], Figures] = {}
    ingest: dict[str, float] = {}
    servers = []
    try:
        # district: the month as the agent's batches on disk; the agent's writer fills the
        # store the questions are asked of, then writer and curl post the same first
        # COMPARE batches in turn into another store, best of --rounds
        files = bodies(root / "batches", DISTRICT, start_s, minutes)
        points = sum(len(plain.read_bytes().splitlines()) for plain, _ in files)
        vm_d = start_victoria(root / "vm-district")
        servers.append(vm_d)
        ingest["writer fill"] = ingest_with_writer(vm_d.url, files, gzip_on=True)
        say(f"  district month through the writer: {points:,} points in "
            f"{ingest['writer fill']:.1f} s")
        compare = files[:COMPARE]
        ingest["compared"] = sum(len(plain.read_bytes().splitlines()) for plain, _ in compare)
        spare = start_victoria(root / "vm-ingest")
        try:
            for _ in range(args.rounds):
                for name, run in (
                        ("writer gzip", lambda: ingest_with_writer(spare.url, compare,
                                                                   gzip_on=True)),
                        ("curl gzip", lambda: ingest_with_curl(spare.url, compare,
                                                               root / "curl.cfg", gzip_on=True)),
                        ("writer plain", lambda: ingest_with_writer(spare.url, compare,
                                                                    gzip_on=False)),
                        ("curl plain", lambda: ingest_with_curl(spare.url, compare,
                                                                root / "curl.cfg",
                                                                gzip_on=False))):
                    took = run()
                    say(f"  ingest {name}: {took:.2f} s")
                    ingest[name] = min(ingest.get(name, float("inf")), took)
            spare.flush()
            assert count_vm(spare.url, "ping_up", args.days + 1) > 0
        finally:
            spare.stop()
            shutil.rmtree(spare.root, ignore_errors=True)
        shutil.rmtree(root / "batches")
        vm_d.flush()
        expected_up = DISTRICT.sites * DISTRICT.targets * minutes
        assert count_vm(vm_d.url, "ping_up", args.days + 1) == expected_up, "lost points"

        influx = start_influxd(root / "influx-district")
        servers.append(influx)
        influx.create_database(DB)
        _, values, took = fill("influx", influx.url, DISTRICT, start_s, minutes)
        ingest["influx fill"] = took
        settle(influx.url)
        time.sleep(2)
        for kind, server, output in (
                ("influx", influx, f'{{type: influxdb, url: "{influx.url}", version: "1", '
                                   f"database: {DB}, timeout: 300s}}"),
                ("vm", vm_d, f'{{type: victoriametrics, url: "{vm_d.url}", timeout: 300s}}')):
            where = root / f"ask-{kind}-district"
            where.mkdir()
            config = write_config(where, DISTRICT, output)
            figures = ask_all(config, kind, server.url, DISTRICT, args, where)
            figures.points, figures.values = points, values
            results[(kind, "district")] = figures
        influx.stop()
        results[("influx", "district")].disk_bytes = disk_bytes(influx.root / "data") + \
            disk_bytes(influx.root / "wal")
        vm_d.stop()
        results[("vm", "district")].disk_bytes = disk_bytes(vm_d.root / "data")
        servers.clear()
        shutil.rmtree(influx.root, ignore_errors=True)
        shutil.rmtree(vm_d.root, ignore_errors=True)
        report(results, ingest, points, args)

        if not args.skip_province:
            vm_p = start_victoria(root / "vm-province")
            servers.append(vm_p)
            p_points, p_values, took = fill("vm", vm_p.url, PROVINCE, start_s, minutes)
            ingest["province fill"] = took
            say(f"  province month: {p_points:,} points ({p_values:,} values) in {took:.0f} s")
            vm_p.flush()
            assert count_vm(vm_p.url, "ping_up", args.days + 1) == \
                PROVINCE.sites * PROVINCE.targets * minutes, "lost points"
            where = root / "ask-vm-province"
            where.mkdir()
            config = write_config(where, PROVINCE, f'{{type: victoriametrics, url: '
                                                   f'"{vm_p.url}", timeout: 600s}}')
            figures = ask_all(config, "vm", vm_p.url, PROVINCE, args, where)
            figures.points, figures.values = p_points, p_values
            vm_p.stop()
            servers.clear()
            figures.disk_bytes = disk_bytes(vm_p.root / "data")
            results[("vm", "province")] = figures
            ingest["province points"] = p_points
            report(results, ingest, points, args)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[tuple[str, str], Figures], ingest: dict[str, float], points: int,
           args) -> None:
    columns = [("influx", "district"), ("vm", "district"), ("vm", "province")]
    columns = [c for c in columns if c in results]
    title = {"influx": "InfluxDB 1.6.7", "vm": "victoria-metrics"}
    head = "".join(f"{title[k]} {s}".rjust(30) for k, s in columns)
    print(f"\n{args.days} days of 1-minute points; district {DISTRICT.series}, province "
          f"{PROVINCE.series} (ping targets + interfaces); best of {args.rounds}, a fresh "
          "CLI process each")
    print(f"{'':24}{head}")
    floor_of = {"uptime": ("up",), "outages": ("up",), "bandwidth": ("rates",),
                "top": ("up", "rates"), "report": ("up", "rates"),
                "report csv": ("up", "rates")}
    for name in (*VERBS, "report", "report csv"):
        cells = []
        for key in columns:
            f = results[key]
            value = f.report if name == "report" else f.verbs.get(name)
            floor = sum(f.floors[k] for k in floor_of[name])
            if value is None or value == float("inf") or floor == float("inf"):
                cells.append("failed".rjust(30))
                continue
            report = name.startswith("report")
            limit = 60.0 if report else TARGET_S[key[1]]
            ok = "" if key[0] == "influx" else (" ok" if value < limit and (
                report or value <= 3 * floor) else " MISS")
            cells.append(f"{value:7.2f} s {value / floor:5.1f}x floor{ok}".rjust(30))
        label = {"report": "report, HTML (all sites)", "report csv": "report, CSV (all sites)"
                 }.get(name, f"{name} --since {args.days}d")
        print(f"{label:24}{''.join(cells)}")
    for k in ("up", "rates"):
        cells = "".join(f"{results[c].floors[k]:7.2f} s".rjust(30) for c in columns)
        print(f"{'floor ' + k + ' (curl)':24}{cells}")
    cells = "".join(f"{results[c].disk_bytes / results[c].points:7.2f} B/point "
                    f"{results[c].disk_bytes / results[c].values:5.2f} B/value".rjust(30)
                    for c in columns)
    print(f"{'on disk':24}{cells}")
    cells = "".join(f"{results[c].verbs['start-up']:7.2f} s".rjust(30) for c in columns)
    print(f"{'CLI start-up':24}{cells}   (config check: in every figure above)")
    print(f"\ningest: the agent's victoria-metrics writer against curl posting the same "
          f"{ingest['compared']:,} points (batches of {BATCH:,}, one request at a time), "
          f"best of {args.rounds}:")
    for name in ("writer gzip", "curl gzip", "writer plain", "curl plain"):
        print(f"  {name:14} {ingest[name]:7.2f} s  "
              f"{ingest['compared'] / ingest[name]:>12,.0f} points/s")
    print(f"  agent writer / curl: gzip {ingest['curl gzip'] / ingest['writer gzip']:.0%}, "
          f"plain {ingest['curl plain'] / ingest['writer plain']:.0%} (target >= 90%)")
    print(f"  the whole district month ({points:,} points) through the writer, gzip: "
          f"{points / ingest['writer fill']:,.0f} points/s")
    print(f"  filling InfluxDB 1.6.7 with the district month (2 processes): "
          f"{points / ingest['influx fill']:,.0f} points/s")
    if "province fill" in ingest:
        print(f"  filling victoria-metrics with the province month (2 processes): "
              f"{ingest['province points'] / ingest['province fill']:,.0f} points/s")
    print(f"machine: {os.cpu_count()} cores, load average at the end "
          f"{os.getloadavg()[0]:.1f} (shared with other work: figures are upper bounds)")


if __name__ == "__main__":
    main()
