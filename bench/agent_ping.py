"""The running agent with 200 ping targets: CPU per cycle beside fping, peak RSS, --help time.

    python bench/agent_ping.py [--targets 200] [--count 5] [--cycles 4]

In one run, on the same loopback addresses (127.0.0.1 …, answered by this host, so no traffic
leaves the machine):

1. the real agent process (`linkwatch agent run`) with one ping check per address
   (`count` echoes, interval 10 s), a host check and a v1 output to its own influxd 1.6.7:
   after the first cycle has been delivered (start-up excluded), its CPU time over the next
   `cycles` cycles, per cycle; and its peak RSS (VmHWM);
2. `fping -C <count> -q` on the same addresses: CPU of one run (RUSAGE_CHILDREN);
3. one `ping -c <count>` process per target, all at once (Telegraf's exec method);
4. `linkwatch --help`: wall time of the whole command.

Targets: agent cycle ≤ 3× fping's CPU; RSS ≤ 60 MB; --help < 0.3 s. Needs root (raw ICMP)
or a ping_group_range covering this user.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers.influxdb import start_influxd  # noqa: E402

INTERVAL_S = 10


def addresses(n: int) -> list[str]:
    return [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(n)]


def agent_config(root: Path, url: str, targets: list[str], count: int) -> Path:
    pings = "\n".join(
        f"    - {{name: t{i}, address: {a}, interval: {INTERVAL_S}s, count: {count}}}"
        for i, a in enumerate(targets)
    )
    path = root / "agent.yaml"
    path.write_text(
        "agent: {name: bench, site: lan, spool: {path: ./spool.db}}\n"
        f"outputs:\n  - {{type: influxdb, url: '{url}', database: bench, version: '1'}}\n"
        "sites:\n  - {name: lan}\n"
        f"checks:\n  host: {{interval: {INTERVAL_S}s}}\n  ping:\n{pings}\n"
    )
    return path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def points_in(server, measurement: str) -> int:
    series = server.query(f'SELECT count(up) FROM "{measurement}"', db="bench")[0].get("series")
    return series[0]["values"][0][1] if series else 0


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("agent made no progress")
        time.sleep(0.2)


def measure_agent(targets: list[str], count: int, cycles: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_influxd(root / "influxd")
        try:
            server.create_database("bench")
            config = agent_config(root, server.url, targets, count)
            env = dict(os.environ)
            agent = subprocess.Popen(
                [sys.executable, "-m", "linkwatch", "agent", "run", "-c", str(config)],
                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                n = len(targets)
                wait_for(lambda: points_in(server, "ping") >= n, 60)
                start = cpu_seconds(agent.pid)
                wait_for(lambda: points_in(server, "ping") >= n * (cycles + 1),
                         INTERVAL_S * (cycles + 3))
                per_cycle = (cpu_seconds(agent.pid) - start) / cycles
                return per_cycle, peak_rss_mb(agent.pid)
            finally:
                agent.terminate()
                agent.wait(timeout=10)
        finally:
            server.stop()


def children_cpu(run) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fping(targets: list[str], count: int) -> float:
    return children_cpu(lambda: subprocess.run(
        ["fping", "-C", str(count), "-q", "-p", "1000", *targets],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False))


def ping_per_target(targets: list[str], count: int) -> float:
    def run() -> None:
        procs = [subprocess.Popen(["ping", "-c", str(count), "-i", "1", "-q", a],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for a in targets]
        for p in procs:
            p.wait()
    return children_cpu(run)


def help_time() -> float:
    env = dict(os.environ)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "linkwatch", "--help"], env=env,
                       stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=4)
    args = parser.parse_args()
    targets = addresses(args.targets)
    agent_cpu, rss = measure_agent(targets, args.count, args.cycles)
    fping_cpu = fping(targets, args.count)
    ping_cpu = ping_per_target(targets, args.count)
    n = f"{args.targets} targets x {args.count} echoes"
    print(f"{'what':<44}{'CPU s':>8}{'x fping':>9}")
    print(f"{'linkwatch agent, one cycle (' + n + ')':<44}{agent_cpu:>8.3f}"
          f"{agent_cpu / fping_cpu:>9.2f}")
    print(f"{'fping -C ' + str(args.count):<44}{fping_cpu:>8.3f}{1:>9.2f}")
    print(f"{'one ping process per target':<44}{ping_cpu:>8.3f}{ping_cpu / fping_cpu:>9.2f}")
    print(f"agent peak RSS: {rss:.1f} MB (target <= 60 MB)")
    print(f"linkwatch --help: {help_time() * 1000:.0f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
