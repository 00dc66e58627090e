"""One point is one line: the encoder never writes a CR or LF, what it writes reads back
exactly, and the decoders take any bytes without a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.agent.datamodel.lineprotocol import (
    Decoder,
    LineProtocolError,
    decode,
    decode_strict,
    encode,
)
from tests.fuzz.budget import examples
from tests.fuzz.strategies import exact_samples, samples

pytestmark = pytest.mark.fuzz


@examples(1000)
@given(samples)
def test_no_encoded_sample_holds_a_cr_or_lf_and_each_reads_back_as_written(sample):
    try:
        line = encode(sample)
    except LineProtocolError:
        return                      # refused with a reason, never written broken
    assert b"\n" not in line and b"\r" not in line
    line.decode("utf-8")            # valid UTF-8, whatever the strings held
    back = decode_strict(line)      # what the agent writes, the strict reader accepts
    assert encode(back) == line
    assert back.time_ns == sample.time_ns


@examples(1000)
@given(exact_samples)
def test_a_sample_of_plain_text_reads_back_exactly(sample):
    try:
        line = encode(sample)
    except LineProtocolError as e:
        assert "written alike" in str(e)  # two keys that escape alike: refused, not merged
        return
    assert decode(line) == sample
    assert decode_strict(line) == sample


@examples(1500)
@given(st.binary(max_size=200) | st.text(max_size=120).map(str.encode))
def test_any_bytes_give_a_sample_or_a_line_protocol_error(data):
    outcomes = []
    for read in (decode, Decoder(), decode_strict):
        try:
            outcomes.append(read(data))
        except LineProtocolError:
            outcomes.append(None)
        except UnicodeDecodeError:
            assert read is not decode_strict
            outcomes.append(None)
    if outcomes[2] is not None:
        assert outcomes[0] == outcomes[2]
    assert outcomes[0] == outcomes[1]
