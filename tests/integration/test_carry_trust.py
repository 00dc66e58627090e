"""`linkwatch spool import` against a real influxd 1.6.7, fed what an attacker with a USB
stick would bring: forged archives in the format every export had before exports were
signed (SHA-256 inside, no key), archives signed with a key of their own, and a trusted
agent's key used for another agent's sites.

Each attack is the one that worked before imports were authenticated: a forged archive
wrote other sites' data; a one-line archive turned a real outage (up=0i) into up=1i; a
one-line `up="poison"` dated 9 days ahead made the shard group refuse every agent's `ping`
with `field type conflict`. Now each is refused with exit status 2 and nothing is written,
and a genuine export of the same agent still goes through.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.datamodel.lineprotocol import encode
from linkwatch.agent.operations.carry import export
from linkwatch.agent.operations.signing import create_key, public_text, sign
from linkwatch.agent.outputs.influx_v1 import V1Writer
from linkwatch.agent.outputs.result import Status
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from tests.servers.influxdb import InfluxServer

pytestmark = pytest.mark.integration

AGENT, SITE = "island-agent", "ngoc-vung"
NEIGHBOUR, NEIGHBOUR_SITE = "cai-rong-agent", "cai-rong"
DAY_NS = 86400 * 10**9
T = (time.time_ns() - 2 * DAY_NS) // 10**9 * 10**9      # two days ago, whole seconds


def ping(up: int | str, t: int, *, agent: str = AGENT, site: str = SITE) -> Sample:
    return Sample("ping", {"agent": agent, "site": site, "target": "gw", "address": "192.0.2.1"},
                  {"sent": 5, "received": 5 * up if isinstance(up, int) else 0, "up": up}, t)


def legacy_archive(path: Path, lines: list[bytes], *, agent: str = AGENT, site: str = SITE,
                   ) -> Path:
    """The archive format of every linkwatch before exports were signed: a manifest with the
    SHA-256 of the points inside the same file, built with nothing but tar, gzip and json."""
    points = gzip.compress(b"".join(line + b"\n" for line in lines), mtime=0)
    times = [int(line.rsplit(b" ", 1)[1]) for line in lines]
    manifest = {
        "format": "linkwatch-export/1", "agent": agent, "site": site, "output": "influxdb:x",
        "points": len(lines), "measurements": {"ping": len(lines)},
        "first_ns": min(times), "last_ns": max(times), "since_ns": None, "until_ns": None,
        "sha256": hashlib.sha256(points).hexdigest(), "created_ns": time.time_ns(),
        "marked_sent": False}
    return _tar(path, [("manifest.json", json.dumps(manifest).encode()),
                       ("points.lp.gz", points)])


def signed_archive(path: Path, lines: list[bytes], key, *, agent: str, site: str) -> Path:
    """An archive in the signed format, made by hand and signed with `key`."""
    points_raw = b"".join(line + b"\n" for line in lines)
    points = gzip.compress(points_raw, mtime=0)
    times = [int(line.rsplit(b" ", 1)[1]) for line in lines]
    manifest = json.dumps({
        "format": "linkwatch-export/2", "agent": agent, "site": site, "sites": [site],
        "output": "influxdb:x", "points": len(lines), "measurements": {"ping": len(lines)},
        "first_ns": min(times), "last_ns": max(times), "since_ns": None, "until_ns": None,
        "sha256": hashlib.sha256(points).hexdigest(), "points_bytes": len(points_raw),
        "created_ns": time.time_ns(), "marked_sent": False}, indent=2, sort_keys=True
    ).encode() + b"\n"
    signature = json.dumps({"public_key": public_text(key), "signature": base64.b64encode(
        sign(key, b"linkwatch-export/2 manifest\n" + manifest)).decode()}).encode()
    return _tar(path, [("manifest.json", manifest), ("signature.json", signature),
                       ("points.lp.gz", points)])


def _tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def district_config(directory: Path, influx: InfluxServer, db: str,
                    trusted: list[tuple[str, str, str]]) -> Path:
    """The district server's config: its InfluxDB, and the agents whose exports it takes."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = "\n".join(f"    - {{agent: {a}, public_key: \"{k}\", sites: [{s}]}}"
                        for a, k, s in trusted)
    path = directory / "district.yaml"
    path.write_text(f"""\
agent: {{name: district-agent, site: district-lan, spool: {{path: ./var/spool.db}}}}
outputs: [{{type: influxdb, url: "{influx.url}", database: {db}, version: "1"}}]
sites:
  - {{name: district-lan}}
  - {{name: {SITE}, parent: district-lan}}
  - {{name: {NEIGHBOUR_SITE}, parent: district-lan}}
carry:
  trusted:
{entries}
""")
    return path


def spool_import(archive: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linkwatch", "spool", "import", str(archive),
                           "-c", str(config), "--give-up-after", "30s", *extra],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def genuine_export(directory: Path, key, samples: list[Sample]) -> Path:
    """What the island agent's `spool export` writes for `samples`."""
    spool = Spool.open(directory / "island.db", max_size=64 * 2**20, history_s=86400,
                       outputs=["influxdb:x"])
    try:
        spool.append(samples)
        path = directory / "genuine.tar"
        export(spool, output="influxdb:x", path=path, agent=AGENT, site=SITE, key=key)
    finally:
        spool.close()
    return path


@pytest.fixture
def keys(tmp_path: Path):
    """The island agent's key, its neighbour's, and one an attacker made for themselves."""
    return {name: create_key(tmp_path / "keys" / f"{name}.key")
            for name in ("island", "neighbour", "attacker")}


@pytest.fixture
def district(tmp_path: Path, influxdb: InfluxServer, influx_db: str, keys) -> Path:
    return district_config(tmp_path / "district", influxdb, influx_db, [
        (AGENT, public_text(keys["island"]), SITE),
        (NEIGHBOUR, public_text(keys["neighbour"]), NEIGHBOUR_SITE)])


def _ups(influx: InfluxServer, db: str) -> list[tuple[str, int, object]]:
    rows = influx.points(db, "ping")
    return sorted((r["site"], r["time"], r["up"]) for r in rows)


def _refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "nothing was imported" in message
    for word in words:
        assert word in message, message


def test_a_forged_archive_cannot_write_other_sites_data(tmp_path, influxdb, influx_db,
                                                        district, keys):
    forged = [encode(ping(1, T + i * 60 * 10**9, site=NEIGHBOUR_SITE)) for i in range(3)]

    _refused(spool_import(legacy_archive(tmp_path / "forged.tar", forged), district),
             "not signed", "--unverified")
    # even taken on someone's word, a line for a site that is not the agent's is refused
    _refused(spool_import(legacy_archive(tmp_path / "forged.tar", forged), district,
                          "--unverified"), "line 1", "cai-rong", "ngoc-vung")
    # a trusted neighbour's own key cannot vouch for the island's agent or its site
    as_island = signed_archive(tmp_path / "n1.tar", [encode(ping(1, T, site=SITE))],
                               keys["neighbour"], agent=AGENT, site=SITE)
    _refused(spool_import(as_island, district), "signed by a key", AGENT)
    into_island = signed_archive(tmp_path / "n2.tar", [
        encode(ping(1, T, agent=NEIGHBOUR, site=SITE))], keys["neighbour"], agent=NEIGHBOUR,
        site=NEIGHBOUR_SITE)
    _refused(spool_import(into_island, district), "line 1", "ngoc-vung")

    assert _ups(influxdb, influx_db) == []


def test_a_one_line_archive_cannot_turn_a_real_outage_into_uptime(tmp_path, influxdb,
                                                                  influx_db, district, keys):
    real = genuine_export(tmp_path, keys["island"], [ping(0, T), ping(1, T + 60 * 10**9)])
    done = spool_import(real, district)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 points written" in done.stdout
    before = _ups(influxdb, influx_db)
    assert before == [(SITE, T, 0), (SITE, T + 60 * 10**9, 1)]

    overwrite = [encode(ping(1, T))]          # same series, same timestamp, up=1i
    _refused(spool_import(legacy_archive(tmp_path / "up.tar", overwrite), district),
             "not signed")
    _refused(spool_import(signed_archive(tmp_path / "up2.tar", overwrite, keys["attacker"],
                                         agent=AGENT, site=SITE), district),
             "signed by a key that carry.trusted does not list")
    # the genuine file, changed by one byte of its manifest, no longer matches its signature
    changed = tmp_path / "changed.tar"
    data = real.read_bytes()
    changed.write_bytes(data.replace(b'"marked_sent": false', b'"marked_sent": true '))
    _refused(spool_import(changed, district), "signature does not match")

    assert _ups(influxdb, influx_db) == before


def test_a_poisoned_field_type_from_the_future_is_refused_and_the_shard_stays_writable(
        tmp_path, influxdb, influx_db, district, keys):
    later = T + 11 * DAY_NS                   # 9 days ahead of now
    poison = [b'ping,address=192.0.2.1,agent=island-agent,site=ngoc-vung,target=gw '
              b'up="poison" %d' % later]

    _refused(spool_import(legacy_archive(tmp_path / "p.tar", poison), district), "not signed")
    # taken on someone's word: a file whose points are dated after it was made is refused
    _refused(spool_import(legacy_archive(tmp_path / "p.tar", poison), district,
                          "--unverified"), "time range is not before its creation")
    # and, dated in the past, a string where the data model has an integer
    past = [poison[0].replace(b" %d" % later, b" %d" % T)]
    _refused(spool_import(legacy_archive(tmp_path / "q.tar", past), district,
                          "--unverified"), "line 1", "field 'up' of ping is an integer")
    assert influxdb.field_types(influx_db, "ping") == {}

    # every agent writing `ping` into that shard group still can
    writer = V1Writer(InfluxOutput(type="influxdb", url=influxdb.url, database=influx_db,
                                   version="1"))
    try:
        result = writer.write(encode(ping(1, later + 10**9, agent="another-agent")))
    finally:
        writer.close()
    assert result.status == Status.OK, result.message
    assert influxdb.field_types(influx_db, "ping")["up"] == "integer"


def test_every_import_is_recorded_with_who_when_which_file_and_how_many(
        tmp_path, influxdb, influx_db, district, keys):
    real = genuine_export(tmp_path, keys["island"], [ping(1, T)])
    assert spool_import(real, district).returncode == 0
    forged = legacy_archive(tmp_path / "forged.tar", [encode(ping(1, T))])
    assert spool_import(forged, district).returncode == 2

    journal = district.parent / "var" / "imports.jsonl"
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    first, second = (json.loads(line) for line in journal.read_text().splitlines())
    assert first["file"] == str(real) and first["result"] == "written"
    assert first["verified"] is True and first["points"] == 1
    assert list(first["written"].values()) == [1]
    assert first["user"] and first["time"].endswith("Z")
    assert second["file"] == str(forged) and second["result"] == "refused"
    assert "not signed" in second["reason"] and second["verified"] is False
