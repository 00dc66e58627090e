"""`spool import` of malformed archives: each gives one line on stderr and exit status 2,
without a traceback, without reading more than its caps, and without sending anything (the
output is a closed loopback port: a send would show as exit status 3)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkwatch.agent.cli import main
from linkwatch.agent.operations.carry import export
from linkwatch.agent.operations.signing import create_key, public_text
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample

AGENT, SITE = "island-agent", "ngoc-vung"
NOW = time.time_ns()


def _config(directory: Path, public: str) -> Path:
    path = directory / "district.yaml"
    path.write_text(f"""\
agent: {{name: district-agent, site: lan, spool: {{path: ./var/spool.db}}}}
outputs: [{{type: influxdb, url: "http://127.0.0.1:9", database: x, version: "1"}}]
carry:
  trusted:
    - {{agent: {AGENT}, public_key: "{public}", sites: [{SITE}]}}
""")
    return path


@pytest.fixture
def island(tmp_path: Path):
    """A genuine signed export of three points, and the district config that trusts it."""
    key = create_key(tmp_path / "signing.key")
    spool = Spool.open(tmp_path / "island.db", max_size=64 * 2**20, history_s=86400,
                       outputs=["influxdb:x"])
    spool.append([Sample("ping", {"agent": AGENT, "site": SITE, "target": "gw"},
                         {"up": i % 2, "sent": 5}, NOW - (3 - i) * 10**9) for i in range(3)])
    path = tmp_path / "genuine.tar"
    export(spool, output="influxdb:x", path=path, agent=AGENT, site=SITE, key=key)
    spool.close()
    return path, _config(tmp_path, public_text(key))


def run_import(archive: Path, config: Path, *extra: str):
    result = CliRunner().invoke(main, ["spool", "import", str(archive), "-c", str(config),
                                       "--give-up-after", "200ms", *extra])
    return result


def assert_refused(result, *words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "nothing was imported" in lines[0] or "not a readable" in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def write_tar(path: Path, items: list[tuple[str, bytes]], **info_fields) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            for k, v in info_fields.get(name, {}).items():
                setattr(info, k, v)
            tar.addfile(info, io.BytesIO(data))
    return path


def with_manifest(archive: Path, out: Path, change) -> Path:
    """The archive with its manifest changed by `change(dict)` (signature left as is)."""
    parts = members(archive)
    manifest = json.loads(parts["manifest.json"])
    change(manifest)
    parts["manifest.json"] = json.dumps(manifest).encode()
    return write_tar(out, list(parts.items()))


def test_a_genuine_export_passes_every_check(island):
    archive, config = island
    result = run_import(archive, config)
    # every check passed: it got as far as the (closed) server, exit 3
    assert result.exit_code == 3, result.output
    assert "signed by island-agent's key" in result.output


def test_a_gzip_bomb_is_refused_at_the_line_cap_without_reading_it_all(island, tmp_path):
    """A 2 MB file that inflates to one 2 GiB line (2048 gzip members of 1 MiB of 'a')."""
    archive, config = island
    member = gzip.compress(b"a" * 2**20, compresslevel=9, mtime=0)
    bomb = member * 2048
    assert len(bomb) < 2.5 * 2**20
    parts = members(archive)
    manifest = json.loads(parts["manifest.json"])
    manifest |= {"format": "linkwatch-export/1", "sha256": hashlib.sha256(bomb).hexdigest(),
                 "points": 1, "measurements": {"ping": 1}}
    del manifest["sites"], manifest["points_bytes"]      # as an unsigned export has it
    out = write_tar(tmp_path / "bomb.tar", [("manifest.json", json.dumps(manifest).encode()),
                                            ("points.lp.gz", bomb)])
    assert_refused(run_import(out, config, "--unverified"), "line 1", "longer than 65536")


def test_a_sparse_member_is_refused_before_the_tar_library_reads_it(island, tmp_path):
    archive, config = island
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        header = tar.getmember("points.lp.gz").offset
    data[header + 156] = ord("S")                  # GNU sparse
    checksum = sum(data[header:header + 148]) + 8 * 32 + sum(data[header + 156:header + 512])
    data[header + 148:header + 156] = b"%06o\0 " % checksum
    sparse = tmp_path / "sparse.tar"
    sparse.write_bytes(bytes(data))
    assert_refused(run_import(sparse, config), "not a plain file")


def test_a_pax_sparse_member_and_a_huge_pax_header_are_refused(island, tmp_path):
    archive, config = island
    parts = members(archive)
    with tarfile.open(tmp_path / "pax.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if name == "points.lp.gz":
                info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                    "GNU.sparse.name": name, "GNU.sparse.realsize": "10737418240"}
            tar.addfile(info, io.BytesIO(data))
    assert_refused(run_import(tmp_path / "pax.tar", config), "not a plain file")
    with tarfile.open(tmp_path / "big.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "x" * 100_000}
        tar.addfile(info, io.BytesIO(b""))
    assert_refused(run_import(tmp_path / "big.tar", config), "extended header")


@pytest.mark.parametrize(("change", "words"), [
    (lambda m: m.update(points="3"), ("points is not an integer",)),
    (lambda m: m.update(measurements=[1]), ("measurements is not a dict",)),
    (lambda m: m.update(first_ns=1.5), ("first_ns is not an integer",)),
    (lambda m: m.update(agent=5), ("agent is not a str",)),
    (lambda m: m.update(marked_sent=1), ("marked_sent is not a bool",)),
    (lambda m: m.update(points=2**70), ("points is not an integer",)),
    (lambda m: m.update(measurements={"ping": "3"}), ("measurements must map",)),
    (lambda m: m.update(sites=[1]), ("sites must be names",)),
    (lambda m: m.update(sha256="z" * 64), ("sha256 is not",)),
    (lambda m: m.pop("agent"), ("keys ['agent'] missing or unknown",)),
    (lambda m: m.update(extra=1), ("keys ['extra'] missing or unknown",)),
    (lambda m: m.update(format=["x"]), ("format 'list'",)),
    (lambda m: m.update(format="linkwatch-export/9"), ("format 'linkwatch-export/9'",)),
])
def test_a_manifest_of_the_wrong_shape_is_refused(island, tmp_path, change, words):
    archive, config = island
    out = with_manifest(archive, tmp_path / "bad.tar", change)
    assert_refused(run_import(out, config), *words)


def test_a_deeply_nested_or_oversized_manifest_is_refused(island, tmp_path):
    archive, config = island
    parts = members(archive)
    for name, body in [("deep", b"[" * 60_000 + b"]" * 1000),
                       ("deep-object", b'{"a":' * 12_000 + b"1" + b"}" * 12_000),
                       ("huge", b" " * (70 * 1024) + b"{}")]:
        out = write_tar(tmp_path / f"{name}.tar", [("manifest.json", body),
                                                   ("points.lp.gz", parts["points.lp.gz"])])
        assert_refused(run_import(out, config), "manifest.json")


def test_a_changed_point_or_its_line_count_is_refused(island, tmp_path):
    archive, config = island
    parts = members(archive)
    lines = gzip.decompress(parts["points.lp.gz"])
    for name, points in [("damaged", parts["points.lp.gz"][:-9] + b"\0" * 9),
                         ("extra", gzip.compress(lines + lines.splitlines(True)[0]))]:
        out = write_tar(tmp_path / f"{name}.tar", [("manifest.json", parts["manifest.json"]),
                                                   ("signature.json", parts["signature.json"]),
                                                   ("points.lp.gz", points)])
        assert_refused(run_import(out, config), "SHA-256")


@pytest.mark.parametrize("kind", ["symlink", "directory", "hardlink", "fifo", "extra",
                                  "duplicate", "no-points", "truncated", "garbage", "empty"])
def test_anything_but_an_export_is_refused(island, tmp_path, kind):
    archive, config = island
    parts = members(archive)
    items = list(parts.items())
    out = tmp_path / f"{kind}.tar"
    if kind in ("symlink", "directory", "hardlink", "fifo"):
        type_ = {"symlink": tarfile.SYMTYPE, "directory": tarfile.DIRTYPE,
                 "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
        with tarfile.open(out, "w") as tar:
            for name, data in items[:-1]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo("points.lp.gz")
            info.type, info.linkname = type_, "/etc/shadow"
            tar.addfile(info)
        words = ("not a plain file",)
    elif kind == "extra":
        write_tar(out, [*items, ("../../etc/cron.d/x", b"* * * * * root sh\n")])
        words = ("unexpected member",)
    elif kind == "duplicate":
        write_tar(out, [*items, items[-1]])
        words = ("appears twice",)
    elif kind == "no-points":
        write_tar(out, items[:-1])
        words = ("no points.lp.gz",)
    elif kind == "truncated":
        out.write_bytes(archive.read_bytes()[:1700])
        words = ("truncated",)
    elif kind == "garbage":
        out.write_bytes(os.urandom(4096))
        words = ()
    else:
        out.write_bytes(b"")
        words = ("truncated",)
    assert_refused(run_import(out, config), *words)


def test_a_fifo_given_as_the_file_is_refused_without_waiting(island, tmp_path):
    _, config = island
    fifo = tmp_path / "pipe.tar"
    os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["spool", "import", str(fifo), "-c", str(config)])
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr or "is not a file" in result.stderr


def test_manifest_fields_are_printed_without_their_escape_sequences(island, tmp_path):
    """An unsigned file names an agent with terminal escape sequences in it."""
    archive, config = island
    out = with_manifest(archive, tmp_path / "esc.tar", lambda m: m.update(
        format="linkwatch-export/1", agent="x\x1b]0;owned\x07\x1b[2J\x9b1m\u202e"))
    parts = members(out)
    del parts["signature.json"]
    manifest = json.loads(parts["manifest.json"])
    del manifest["sites"], manifest["points_bytes"]
    parts["manifest.json"] = json.dumps(manifest).encode()
    out = write_tar(tmp_path / "esc2.tar", list(parts.items()))
    line = assert_refused(run_import(out, config, "--unverified"), "line 1")
    assert not any(c in line for c in "\x1b\x07\x9b\u202e")
    assert "]0;owned" in line                        # shown, escaped
