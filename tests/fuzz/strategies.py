"""Hypothesis strategies for what reaches linkwatch from outside: device strings, names,
field values and raw bytes, weighted toward the characters that break parsers."""

from __future__ import annotations

from hypothesis import strategies as st

from linkwatch.collector.sample import Sample

# The characters line protocol, YAML, CSV, HTML and terminals give a meaning to.
SPECIAL = list(",= \\\"'\n\r\t\x00\x1b\x9b\x7f#=+-@<>&;:{}[]|*!%`~\u2028\u202e\ufeff")

text = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters(codec="utf-8"),
                       st.characters()),   # surrogates too: bytes that were not UTF-8
    max_size=24)
name = st.one_of(st.sampled_from(["ping", "up", "site", "agent", "device", "if_alias"]), text)

field_value = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    text)

samples = st.builds(
    Sample,
    measurement=name,
    tags=st.dictionaries(name, text, max_size=4),
    fields=st.dictionaries(name, field_value, min_size=1, max_size=5),
    time_ns=st.integers(min_value=-(2**63), max_value=2**63 - 1))


def _plain(value: str) -> bool:
    """Text that line protocol writes back exactly (no CR/LF, no backslash at a token's
    edge or before a separator, valid Unicode)."""
    if any(c in value for c in "\r\n") or any("\ud800" <= c <= "\udfff" for c in value):
        return False
    stripped = value.replace("\\\\", "")
    return not (value.endswith("\\") or any(f"\\{c}" in stripped for c in ",= "))


exact_text = text.filter(_plain)
exact_name = st.one_of(st.sampled_from(["ping", "up", "site"]), exact_text).filter(
    lambda s: s != "" and not s.startswith("#"))

exact_samples = st.builds(
    Sample,
    measurement=exact_name,
    tags=st.dictionaries(exact_name, exact_text.filter(bool), max_size=4),
    fields=st.dictionaries(exact_name, st.one_of(
        st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False), exact_text), min_size=1, max_size=5),
    time_ns=st.integers(min_value=-(2**63), max_value=2**63 - 1))
