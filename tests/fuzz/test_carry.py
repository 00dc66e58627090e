"""The carry-out reader: export → import gives back every sample exactly, and any change to
an export's bytes gives a CarryError (one line), never another exception or a point."""

from __future__ import annotations

import gzip
import io
import math
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.agent.config.schema import TrustedAgent
from linkwatch.agent.datamodel.lineprotocol import decode, encode
from linkwatch.agent.datamodel.model import measurements
from linkwatch.agent.operations.carry import CarryError, export
from linkwatch.agent.operations.carry_reader import checked_export
from linkwatch.agent.operations.signing import create_key, public_text
from linkwatch.agent.spool import Spool
from linkwatch.collector.sample import Sample
from tests.fuzz.budget import examples
from tests.fuzz.strategies import text

pytestmark = pytest.mark.fuzz

AGENT, SITES = "island-agent", ("ngoc-vung", "cai-rong")
NOW = time.time_ns()
_VALUES = {int: st.integers(min_value=-(2**63), max_value=2**63 - 1),
           float: st.floats(allow_nan=False, allow_infinity=False), str: text}


@st.composite
def model_samples(draw) -> Sample:
    """A point the data model allows, with hostile text wherever text may go."""
    kind = draw(st.sampled_from(sorted(measurements().values(), key=lambda m: m.name)))
    tags = {t: draw(text) for t in kind.tags if draw(st.booleans())}
    names = sorted(kind.fields) or ["value", "rx_level_dbm"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names),
                           unique=True))
    fields = {n: draw(_VALUES[kind.fields[n]] if n in kind.fields
                      else st.one_of(*(_VALUES[t] for t in kind.declared))) for n in chosen}
    return Sample(kind.name, {**tags, "agent": AGENT, "site": draw(st.sampled_from(SITES))},
                  fields, draw(st.integers(NOW - 40 * 86400 * 10**9, NOW)))


@pytest.fixture(scope="module")
def key():
    with tempfile.TemporaryDirectory() as tmp:
        yield create_key(Path(tmp) / "signing.key")


def _trusted(key) -> list[TrustedAgent]:
    return [TrustedAgent(agent=AGENT, public_key=public_text(key), sites=SITES)]


def _export(directory: Path, key, samples: list[Sample]) -> Path:
    spool = Spool.open(directory / "spool.db", max_size=64 * 2**20, history_s=86400 * 90,
                       outputs=["influxdb:x"])
    try:
        spool.append(samples)
        path = directory / "export.tar"
        export(spool, output="influxdb:x", path=path, agent=AGENT, site=SITES[0], key=key)
    finally:
        spool.close()
    return path


def _same(a: Sample, b: Sample) -> bool:
    return (a.measurement, a.tags, a.time_ns) == (b.measurement, b.tags, b.time_ns) and \
        a.fields.keys() == b.fields.keys() and all(
            type(a.fields[k]) is type(b.fields[k]) and (
                a.fields[k] == b.fields[k] or (isinstance(a.fields[k], float)
                                              and math.isnan(a.fields[k])))
            for k in a.fields)


@examples(100)
@given(st.lists(model_samples(), min_size=1, max_size=30))
def test_export_then_import_gives_back_every_sample_exactly(key, samples):
    with tempfile.TemporaryDirectory() as tmp:
        archive = _export(Path(tmp), key, samples)
        with checked_export(archive, trusted=_trusted(key), allow_unverified=False,
                            now_ns=time.time_ns()) as checked, \
                gzip.open(checked.points, "rb") as gz:
            lines = gz.read().split(b"\n")[:-1]
    written = []
    for s in samples:
        try:
            written.append(encode(s))
        except Exception:
            continue                  # refused at append, with a reason, never stored
    assert lines == written           # the bytes the agent would have sent, in order
    for line, sample in zip(lines, (s for s in samples if _encodes(s)), strict=True):
        assert b"\n" not in line and b"\r" not in line
        assert _same(decode(line), decode(encode(sample)))


def _encodes(sample: Sample) -> bool:
    try:
        encode(sample)
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def genuine(key):
    with tempfile.TemporaryDirectory() as tmp:
        archive = _export(Path(tmp), key, [
            Sample("ping", {"agent": AGENT, "site": SITES[0], "target": f"t{i}"},
                   {"up": i % 2, "rtt_avg_ms": 1.5 * i}, NOW - i * 10**9) for i in range(40)])
        yield archive.read_bytes()


@examples(600)
@given(st.data())
def test_any_change_to_an_export_is_refused_with_one_line(key, genuine, data):
    blob = bytearray(genuine)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = data.draw(st.integers(0, len(blob) - 1))
        if how == "flip":
            blob[at] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del blob[at:at + data.draw(st.integers(1, 2048))]
        elif how == "insert":
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=600))
        else:
            blob[at:at + 512] = bytes(min(512, len(blob) - at))
    if bytes(blob) == genuine:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "changed.tar"
        path.write_bytes(bytes(blob))
        try:
            # accepted only if what it carries is the genuine points, byte for byte (a
            # change to padding or to the unread end of the tar changes nothing)
            with checked_export(path, trusted=_trusted(key), allow_unverified=True,
                                now_ns=time.time_ns()) as checked, \
                    gzip.open(checked.points) as gz:
                assert gz.read() == _genuine_points(genuine)
        except CarryError as e:
            assert "\n" not in str(e) and str(e).endswith("nothing was imported")


def _genuine_points(genuine: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(genuine)) as tar:
        return gzip.decompress(tar.extractfile("points.lp.gz").read())
