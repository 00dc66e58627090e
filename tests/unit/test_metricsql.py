"""The escaping every MetricsQL query uses, and the nearest-rank arithmetic over a store
whose quantiles interpolate. The server reads string literals with Go's strconv.Unquote; a
reference reader of the same rules stands in for it here (the integration tests send the
same names to a real victoria-metrics)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.agent.query.metricsql import any_of, matcher, quote, regex_literal, selector
from linkwatch.agent.query.ranks import interior_ranks, merged_rank, phi_for, rank_index
from linkwatch.agent.query.states import percentile

HOSTILE = ["o'brien", 'say "hi"', "back\\slash", 'x"} or vector(1) #', "a\nb", "tab\t",
           "Quan Lạn", "a.b|c*", "(x)[y]{z}^$", "\x00\x7f", "", "\\x41", '"', "\\"]


def unquote(literal: str) -> bytes:
    """Go's strconv.Unquote for a double-quoted literal, as far as `quote` writes one."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == '"' or c == "\n":
            raise ValueError(f"unescaped {c!r} inside a literal")
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
        elif body[i + 1] in '"\\':
            out += body[i + 1].encode()
            i += 2
        elif body[i + 1] == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"escape {body[i:i + 2]!r} that quote() never writes")
    return bytes(out)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_label_value_comes_back_exactly_and_cannot_end_the_literal(value):
    literal = quote(value)
    assert unquote(literal) == value.encode("utf-8")
    assert "\n" not in literal and all(0x20 <= ord(c) < 0x7F for c in literal)


@given(st.text())
def test_any_text_round_trips(value):
    assert unquote(quote(value)) == value.encode("utf-8", "surrogateescape")


@given(st.lists(st.text(min_size=0, max_size=8), min_size=1, max_size=4), st.text(max_size=8))
def test_a_regex_of_names_matches_those_names_and_nothing_else(names, other):
    # the server anchors `=~` as ^(?:…)$; RE2 and Python agree on backslash-escaped
    # punctuation and on literal characters
    pattern = unquote(any_of(names)).decode("utf-8")
    for name in names:
        assert re.fullmatch(f"(?:{pattern})", name, re.DOTALL)
    assert bool(re.fullmatch(f"(?:{pattern})", other, re.DOTALL)) == (other in names)


def test_regex_literal_escapes_every_re2_metacharacter():
    assert regex_literal("a.b|c*(d)[e]{f}^$+?\\") == \
        "a\\.b\\|c\\*\\(d\\)\\[e\\]\\{f\\}\\^\\$\\+\\?\\\\"


def test_selectors_and_matchers():
    assert selector("ping_up", {"target": "gw", "site": 'a"b'}) == \
        'ping_up{site="a\\"b",target="gw"}'
    assert selector("ping_up", extra=[matcher("site", ["x"])]) == 'ping_up{site="x"}'
    assert matcher("site", ["a", "b.c"]) == 'site=~"a|b\\\\.c"'


@given(st.lists(st.sampled_from([1.0, 2.0, 3.0, 0.5, 7.25]) | st.floats(0, 1e9),
                min_size=0, max_size=40),
       st.lists(st.floats(0, 1e9), min_size=0, max_size=2))
def test_the_rank_of_aligned_and_partial_windows_together_is_the_definitions(inside, edges):
    if not inside and not edges:
        return
    ordered = sorted(inside)
    r = rank_index(len(inside) + len(edges))
    known = {j: ordered[j] for j in interior_ranks(r, len(inside), len(edges))}
    assert merged_rank(r, known, edges) == percentile(inside + edges, 95)


@given(st.integers(min_value=1, max_value=10**7))
def test_phi_lands_on_the_nearest_rank(n):
    i = rank_index(n)
    phi = phi_for(i, n)
    rank = phi * (n - 1)
    # MetricsQL: values[floor(rank)]·(1 − w) + values[floor(rank) + 1]·w, w = rank − floor
    assert int(rank) == i and rank - i < 1e-9 * max(1, n)
