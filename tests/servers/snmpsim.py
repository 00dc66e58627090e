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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.snmpd import free_udp_port

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
    source = _snmpsim_data_dir()
    if source is None:
        pytest.skip("snmpsim-data is not installed (pip install snmpsim snmpsim-data pysmi)")
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
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = Snmpsim("127.0.0.1", port, data_dir, proc)
    # Warm up: the first query to each recording waits for its index to be built.
    deadline = time.monotonic() + ready_timeout
    pending = [*recordings, *(str(p.relative_to(FIXTURES).with_suffix(""))
                              for p in FIXTURES.glob("*/*.snmprec"))]
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"snmpsim exited with {proc.returncode}: "
                               f"{log.read_text(errors='replace') if log.exists() else ''}")
        answer = subprocess.run(
            ["snmpget", "-v2c", "-c", pending[0], "-t", "5", "-r", "0", "-On",
             f"udp:127.0.0.1:{port}", ".1.3.6.1.2.1.1.3.0"],
            env={**env, "SNMP_PERSISTENT_DIR": str(workdir / "state")}, capture_output=True)
        if answer.returncode == 0:
            pending.pop(0)
    if pending:
        stop_snmpsim(server)
        raise RuntimeError(f"snmpsim did not serve {pending[0]} within {ready_timeout}s")
    return server


def stop_snmpsim(server: Snmpsim) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    """One snmpsim for the session on a private loopback port, recordings indexed."""
    server = start_snmpsim(tmp_path_factory.mktemp("snmpsim"))
    yield server
    stop_snmpsim(server)
