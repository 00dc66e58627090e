"""A real snmpsim agent serving recordings of real devices and the project's own scenarios.

Only a few recordings are served (indexing all of snmpsim-data takes minutes): three vendors'
switches from snmpsim-data, and every scenario under tests/fixtures/snmprec/. The community
selects a recording: `network/switch/cisco-c3560`, or `<scenario>/<step>` for our own.
"""

from __future__ import annotations

import bz2
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.process import (
    ServerError,
    free_udp_port,
    require,
    running,
    start_logged,
    stop_process,
    unavailable,
    wait_until,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "snmprec"
VENDOR_RECORDINGS = (
    "network/switch/cisco-c3560",
    "network/switch/huawei-s12704",
    "network/switch/dlink-des3038",
)


@dataclass(frozen=True)
class Snmpsim:
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen


def _snmpsim_data_dir() -> Path | None:
    try:
        import snmpsim_data
    except ImportError:
        return None
    return Path(snmpsim_data.__file__).parent / "data"


def _copy_recording(source_dir: Path, name: str, data_dir: Path) -> None:
    target = data_dir / f"{name}.snmprec"
    target.parent.mkdir(parents=True, exist_ok=True)
    plain = source_dir / f"{name}.snmprec"
    packed = source_dir / f"{name}.snmprec.bz2"
    if plain.exists():
        shutil.copyfile(plain, target)
    else:
        target.write_bytes(bz2.decompress(packed.read_bytes()))


def _responder() -> list[str]:
    exe = shutil.which("snmpsim-command-responder")
    if exe:
        return [exe]
    return [sys.executable, "-m", "snmpsim.commands.responder"]


def start_snmpsim(workdir: Path, recordings: tuple[str, ...] = VENDOR_RECORDINGS,
                  ready_timeout: float = 120.0) -> Snmpsim:
    """Start snmpsim serving `recordings` and the scenarios, once each answers a GET.

    Missing snmpsim-data or snmpget skips the calling test (fails it under CI)."""
    source = _snmpsim_data_dir()
    if source is None:
        unavailable("snmpsim-data is not installed (pip install snmpsim snmpsim-data pysmi)")
    require("snmpget", "the Debian package snmp")
    data_dir = workdir / "data"
    for name in recordings:
        _copy_recording(source, name, data_dir)
    for rec in FIXTURES.glob("*/*.snmprec"):
        target = data_dir / rec.relative_to(FIXTURES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rec, target)
    port = free_udp_port()
    log = workdir / "snmpsim.log"
    cmd = [*_responder(), f"--data-dir={data_dir}", f"--cache-dir={workdir / 'cache'}",
           f"--agent-udpv4-endpoint=127.0.0.1:{port}", f"--logging-method=file:{log}",
           "--log-level=error"]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true", "MIBS": ""}
    proc = start_logged(cmd, log, env=env)
    server = Snmpsim("127.0.0.1", port, data_dir, proc)
    # Warm up: the first query to each recording waits for its index to be built.
    pending = [*recordings, *(str(p.relative_to(FIXTURES).with_suffix(""))
                              for p in FIXTURES.glob("*/*.snmprec"))]

    def all_served() -> bool:
        answer = subprocess.run(
            ["snmpget", "-v2c", "-c", pending[0], "-t", "5", "-r", "0", "-On",
             f"udp:127.0.0.1:{port}", ".1.3.6.1.2.1.1.3.0"],
            env={**env, "SNMP_PERSISTENT_DIR": str(workdir / "state")}, capture_output=True)
        if answer.returncode == 0:
            pending.pop(0)
        return not pending

    try:
        wait_until(all_served, proc, f"snmpsim on udp:127.0.0.1:{port}", log, ready_timeout,
                   every=0)
    except ServerError as e:
        raise ServerError(f"{e} (recording {pending[0]} not served yet)") from None
    return server


def stop_snmpsim(server: Snmpsim) -> None:
    stop_process(server.process, timeout=10)


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """One snmpsim for the session on a private loopback port, recordings indexed."""
    with running(lambda: start_snmpsim(tmp_path_factory.mktemp("snmpsim")),
                 stop_snmpsim) as server:
        yield server
