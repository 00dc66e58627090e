"""The config loader, fed what a careless edit or a hostile reload could put in the file:
any YAML built from the schema's own keys with values of every type, then mutated byte by
byte. The loader gives a Config or a ConfigError naming the file, never another exception,
and never shows a secret in its messages."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from linkwatch.agent.config import ConfigError, load_config
from tests.fuzz.budget import examples
from tests.fuzz.strategies import text

pytestmark = pytest.mark.fuzz

SECRET = "s3cr3t-value-9f2c"
KEYS = ["agent", "name", "site", "spool", "path", "max_size", "history", "timezone",
        "outputs", "type", "url", "version", "database", "token", "token_file", "password",
        "password_file", "bucket", "org", "batch_size", "timeout", "gzip", "sites", "parent",
        "capacity", "down", "up", "requirements", "office_hours", "warn_pct", "checks",
        "ping", "snmp", "host", "address", "interval", "count", "community",
        "community_file", "v3", "username", "auth_protocol", "auth_key", "priv_protocol",
        "priv_key", "interfaces", "names", "regex", "oids", "field", "oid", "uplink", "carry",
        "trusted", "public_key", "sites", "signing_key", "journal", "x-shared", "<<"]
WORDS = ["60s", "500ms", "30d", "256MiB", "8Mbps", "auto", "1", "2", "2c", "3", "influxdb",
         "http://127.0.0.1:8086", "${HOME}",
         "${UNSET}", "${UNSET:-x}", "$${x}", "${", "/dev/zero", "/dev/stdin", "/etc/hostname",
         "-1s", "1e400", "nan", "Asia/Ho_Chi_Minh", "07:30-17:00", "ed25519:AAAA", "[a-",
         "lan", "sha", "aes", "true", "", " ", "\\", "\x1b[2J"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True), st.sampled_from(WORDS), text)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=25)
documents = st.one_of(
    st.fixed_dictionaries({"agent": st.fixed_dictionaries(
        {"name": st.sampled_from(["a", ""]), "site": st.just("lan")},
        optional={"spool": values, "timezone": values})},
        optional={k: values for k in ("outputs", "sites", "checks", "carry")}),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
    values)


SECRET_KEYS = {"token", "password", "community", "auth_key", "priv_key"}


def _with_secrets(value):
    """The document with every secret key holding SECRET, and every url a user:SECRET."""
    if isinstance(value, dict):
        return {k: SECRET if k in SECRET_KEYS else f"http://u:{SECRET}@h:1" if k == "url"
                else _with_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secrets(v) for v in value]
    return value


@st.composite
def config_texts(draw) -> str:
    try:
        body = yaml.safe_dump(_with_secrets(draw(documents)), allow_unicode=True)
    except yaml.YAMLError:
        body = "agent: {name: a, site: lan}\n"
    for _ in range(draw(st.integers(0, 3))):     # then a careless edit or two
        at = draw(st.integers(0, len(body)))
        edit = draw(st.one_of(st.sampled_from(EDITS), text))
        body = body[:at] + edit + body[at + draw(st.integers(0, 3)):]
    return body


EDITS = ["\t", "&a ", "*a", "<<: *a", "- ", ": ", "{", "}", "[", "!!python/object ", "\x00",
         "\x85", "\ud800", "'", '"', "\n  ", "%YAML 1.1\n", "---\n", "? ", "token_file: "]


@examples(600)
@given(config_texts())
def test_any_file_gives_a_config_or_a_config_error_naming_the_file(body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(body.encode("utf-8", "surrogatepass"))
        try:
            config = load_config(path, environ={"HOME": "/root"})
        except ConfigError as e:
            message = str(e)
            assert e.problems and all(p.file == path for p in e.problems)
            assert SECRET not in message
            return
    assert config.agent.name and config.agent.site
