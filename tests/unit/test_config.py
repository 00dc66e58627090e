"""Loading the config: what a user sees for good files, broken files and secrets."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path
from typing import Literal

import pytest
import yaml

from linkwatch.agent.config import (
    ConfigError,
    Problem,
    discovery,
    find_config,
    format_problems,
    load_config,
)
from linkwatch.agent.config.builder import Builder
from linkwatch.collector.keys import key
from linkwatch.collector.kind import ProbeKind
from linkwatch.collector.registry import BUILTIN
from linkwatch.collector.units import BitsPerSecond, Bytes, Seconds, Secret

REPO = Path(__file__).resolve().parents[2]

# A valid start that the broken cases below extend; a line marked `#<` is where the problem is.
HEAD = """\
agent: {name: a1, site: lan}
sites:
  - {name: lan, capacity: {down: 100Mbps, up: 100Mbps}}
  - {name: commune, parent: lan}
"""

BROKEN = {
    "typo in a key": (HEAD + """\
checks:
  ping:
    - {name: p1, address: 127.0.0.1}
    - {name: p2, address: 127.0.0.1, intervall: 5s}  #<
""", "checks.ping[1].intervall", "unknown key 'intervall'", "did you mean 'interval'?"),
    "duration in words": (HEAD + """\
checks:
  host:
    interval: 5 minutes  #<
""", "checks.host.interval", "expected a duration like 60s", "write 5m"),
    "negative duration": (HEAD + """\
checks:
  ping:
    - name: p1
      address: 127.0.0.1
      timeout: -1s  #<
""", "checks.ping[0].timeout", "got '-1s'", "cannot be negative"),
    "text for a number": (HEAD + """\
checks:
  ping:
    - name: p1
      address: 127.0.0.1
      count: five  #<
""", "checks.ping[0].count", "expected a whole number, got 'five'", None),
    "rate for a size": ("""\
agent:
  name: a1
  site: lan
  spool:
    max_size: 10MB/s  #<
""", "agent.spool.max_size", "expected a size like 256MiB", None),
    "bytes per second for a rate": ("""\
agent: {name: a1, site: lan}
sites:
  - name: lan
    capacity:
      down: 8MB/s  #<
      up: 2Mbps
""", "sites[0].capacity.down", "expected a rate like 8Mbps", "is 64Mbps"),
    "required key missing": (HEAD + """\
checks:
  ping:
    - {name: p1, address: 127.0.0.1}
    - {name: p2}  #<
""", "checks.ping[1].address", "missing required key 'address'", None),
    "required key missing in a section": ("""\
agent:  #<
  name: a1
""", "agent.site", "missing required key 'site'", "add `site:`"),
    "two checks of a kind with one name": (HEAD + """\
checks:
  ping:
    - {name: gw, address: 127.0.0.1}
    - {name: gw, address: 127.0.0.2}  #<
""", "checks.ping[1].name", "another ping check is already named 'gw' (line 7)", None),
    "two outputs with the default name": ("""\
agent: {name: a1, site: lan}
outputs:
  - {type: influxdb, url: "http://127.0.0.1:8086", database: linkwatch}
  - type: influxdb  #<
    url: https://metrics.example:8086
    version: "2"
    org: quang-ninh
    bucket: linkwatch
    token: t
""", "outputs[1].name", "another output is already named 'influxdb:linkwatch' (line 3)",
        "give each output its own `name:`"),
    "unknown parent site": ("""\
agent: {name: a1, site: lan}
sites:
  - {name: lan}
  - {name: ngoc-vung, parent: quan-lam}  #<
  - {name: quan-lan, parent: lan}
""", "sites[1].parent", "unknown parent site 'quan-lam'", "did you mean 'quan-lan'?"),
    "sites that are each other's parents": ("""\
agent: {name: a1, site: lan}
sites:
  - {name: lan}
  - {name: quan-lan, parent: minh-chau}  #<
  - {name: minh-chau, parent: quan-lan}
""", "sites[1].parent", "quan-lan → minh-chau → quan-lan", None),
    "check at an unknown site": (HEAD + """\
checks:
  snmp:
    - {name: sw, address: 127.0.0.1, site: comune}  #<
""", "checks.snmp[0].site", "site 'comune' is not among the sites", "did you mean 'commune'?"),
    "agent at an unknown site": ("""\
agent:
  name: a1
  site: district  #<
sites:
  - {name: lan}
""", "agent.site", "site 'district' is not among the sites", "known: lan"),
    "v2 output without its keys": (HEAD + """\
outputs:
  - type: influxdb  #<
    url: http://127.0.0.1:8086
    version: "2"
    bucket: b
""", "outputs[0]", "a version 2 output needs org, token", None),
    "missing secret file": (HEAD + """\
outputs:
  - type: influxdb
    url: http://127.0.0.1:8086
    token_file: /nonexistent/influx.token  #<
""", "outputs[0].token_file", "cannot read secret file /nonexistent/influx.token", "create it"),
    "unset environment variable": (HEAD + """\
outputs:
  - type: influxdb
    url: http://127.0.0.1:8086
    token: ${LINKWATCH_TEST_UNSET}  #<
""", "outputs[0].token", "environment variable LINKWATCH_TEST_UNSET is not set",
        "${LINKWATCH_TEST_UNSET:-value}"),
    "interval of zero": (HEAD + """\
checks:
  ping:
    - {name: p1, address: 127.0.0.1, interval: 0s}  #<
""", "checks.ping[0].interval", "interval must be more than zero, got 0s", None),
    "count out of range": (HEAD + """\
checks:
  ping:
    - name: p1
      address: 127.0.0.1
      count: 1000  #<
""", "checks.ping[0].count", "count must be from 1 to 100, got 1000", None),
    "duplicate YAML key": (HEAD + """\
checks:
  host:
    interval: 10s
    interval: 20s  #<
""", "checks.host.interval", "duplicate key 'interval' (first at line 7)", "only the last"),
    "value outside a choice": (HEAD + """\
outputs:
  - type: influxdb
    url: http://127.0.0.1:8086
    version: v2  #<
""", "outputs[0].version", "expected one of 'auto', '1', '2', got 'v2'", "did you mean '2'?"),
    "a mapping where a list belongs": (HEAD + """\
checks:
  ping:  #<
    name: p1
    address: 127.0.0.1
""", "checks.ping", "expected a list, got a mapping", "`- `"),
    "secret given twice": (HEAD + """\
outputs:
  - type: influxdb
    url: http://127.0.0.1:8086
    token: abc
    token_file: /etc/hostname  #<
""", "outputs[0].token_file", "both 'token' and 'token_file' are set", None),
    "timeout longer than the interval": (HEAD + """\
checks:
  ping:
    - {name: p1, address: 127.0.0.1, interval: 1m, timeout: 90s}  #<
""", "checks.ping[0].timeout", "timeout 90s is longer than the interval 60s", None),
    "url without a scheme": (HEAD + """\
outputs:
  - type: influxdb
    url: 127.0.0.1:8086  #<
""", "outputs[0].url", "expected a URL like http://127.0.0.1:8086", None),
    "typo in a top-level key": (HEAD + """\
check:  #<
  host: {}
""", "check", "unknown key 'check'", "did you mean 'checks'?"),
    "unknown SNMP version": (HEAD + """\
checks:
  snmp:
    - name: sw
      address: 127.0.0.1
      version: 2  #<
""", "checks.snmp[0].version", "got '2'", "did you mean '2c'?"),
    "unknown time zone": ("""\
agent:
  name: a1
  site: lan
  timezone: Asia/Hanoi  #<
""", "agent.timezone", "unknown time zone 'Asia/Hanoi'", "Asia/Ho_Chi_Minh"),
}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return caught.value


@pytest.mark.parametrize(("text", "key", "message", "hint"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_config_names_file_line_and_key(
        tmp_path: Path, text: str, key: str, message: str, hint: str | None) -> None:
    path = write(tmp_path, text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "#<" in t)
    error = problems_of(path)
    assert len(error.problems) == 1, str(error)
    problem = error.problems[0]
    assert (problem.line, problem.key) == (line, key), str(error)
    assert message in problem.message
    if hint:
        assert hint in (problem.hint or "")
    assert str(error).startswith(f"{path}:{line}:{problem.column}: {key}: ")


@pytest.mark.parametrize(("text", "line", "message", "hint"), [
    ("agent:\n\tname: a1\n", 2, "YAML syntax error", "YAML does not allow tabs"),
    ("agent: {name: a1\n", 2, "expected ',' or '}'", "the quotes"),
    ("agent:\n  name: 'a1\n  site: lan\n", 4, "from line 2, column 9", "the quotes"),
    ("agent: {name: a1, site: lan}\noutputs:\n  - {type: influxdb, url: 'http://h:8086',\n"
     "     token: ${LINKWATCH_INFLUX_TOKEN}}\n", 4, "flow mapping",
     'quote a value that holds ${…} inside {…}: token: "${LINKWATCH_INFLUX_TOKEN}"'),
    ("- agent\n- checks\n", 1, "expected a mapping of keys at the top level", "`agent:`"),
    ("agent: {name: a, site: b}\n---\nchecks: {}\n", 2, "expected a single document", None),
])
def test_a_file_that_is_not_a_config_mapping_is_refused_with_its_line(
        tmp_path: Path, text: str, line: int, message: str, hint: str | None) -> None:
    path = write(tmp_path, text)
    error = problems_of(path)
    assert [p.line for p in error.problems] == [line]
    assert message in error.problems[0].message
    assert hint is None or hint in (error.problems[0].hint or "")
    assert str(error).startswith(f"{path}:{line}:")


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    error = problems_of(write(tmp_path, text))
    assert "the config is empty" in str(error)


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    error = problems_of(tmp_path / "nope.yaml")
    assert f"{tmp_path / 'nope.yaml'}: cannot read the config: No such file" in str(error)


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent:
          name: a1
          site: lan
          spool: {history: forever}
        sites:
          - {name: lan}
          - {name: commune, parent: lam}
        checks:
          ping:
            - {name: p1, address: 127.0.0.1, intervall: 5s}
            - {name: p1, address: 127.0.0.1, count: 0}
            - {name: p3, address: 127.0.0.1, site: elsewhere}
          snmp:
            - {address: 127.0.0.1}
          host: {interval: 5 minutes}
        """)
    error = problems_of(path)
    found = [(p.line, p.key) for p in error.problems]
    assert found == [
        (4, "agent.spool.history"),
        (7, "sites[1].parent"),
        (10, "checks.ping[0].intervall"),
        (11, "checks.ping[1].name"),
        (11, "checks.ping[1].count"),
        (12, "checks.ping[2].site"),
        (14, "checks.snmp[0].name"),
        (15, "checks.host.interval"),
    ]
    assert str(error).endswith("8 problems in " + str(path))


def test_a_bad_value_does_not_cause_second_hand_problems(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        sites:
          - {name: lan}
          - {name: commune, capacity: {down: fast, up: 1Mbps}}
        checks:
          ping:
            - {name: p1, address: 127.0.0.1, site: commune, interval: often, timeout: 5s}
          snmp:
            - name: sw
              address: 127.0.0.1
              version: "3"
              v3: {username: u, auth_protocol: sha, auth_key: "${UNSET_KEY}"}
        """)
    error = problems_of(path)
    # the site with a bad capacity still counts as declared; the bad interval is not
    # compared with the timeout; the v3 section is not said to be missing
    assert [p.key for p in error.problems] == [
        "sites[1].capacity.down", "checks.ping[0].interval", "checks.snmp[0].v3.auth_key"]


def test_a_value_shared_through_an_anchor_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        x-snmp: &snmp {community_file: ./missing-community}
        checks:
          snmp:
            - {<<: *snmp, name: sw1, address: 127.0.0.1}
            - {<<: *snmp, name: sw2, address: 127.0.0.2}
            - {<<: *snmp, name: sw3, address: 127.0.0.3}
        """)
    error = problems_of(path)
    assert len(error.problems) == 1
    assert error.problems[0].line == 2
    assert "and 2 more keys using this value, the last checks.snmp[2].community_file" in str(error)


def test_environment_variables_are_substituted(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent: {name: "${AGENT_NAME}", site: "${SITE:-lan}"}
        outputs:
          - type: influxdb
            url: http://${INFLUX_HOST}:8086
            database: $${literal}
            token: ${TOKEN}
            batch_size: ${BATCH}
            gzip: ${GZIP}
        checks:
          ping: [{name: p1, address: 127.0.0.1, interval: "${PING_EVERY}"}]
        """)
    config = load_config(path, environ={
        "AGENT_NAME": "cai-rong-agent", "INFLUX_HOST": "127.0.0.1", "TOKEN": "t0k3n",
        "BATCH": "100", "GZIP": "false", "PING_EVERY": "30s", "SITE": ""})
    assert config.agent.name == "cai-rong-agent"
    assert config.agent.site == "lan"             # `:-` also covers set-but-empty
    output = config.outputs[0]
    assert output.url == "http://127.0.0.1:8086"
    assert output.database == "${literal}"
    assert output.token is not None and output.token.reveal() == "t0k3n"
    assert (output.batch_size, output.gzip) == (100, False)
    assert config.checks.of("ping")[0].spec.interval == 30


def test_secrets_are_read_from_files_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "influx.token").write_text("tok-from-file\n")
    (tmp_path / "community").write_text("c0mmunity\r\n")
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        outputs:
          - {type: influxdb, url: "http://127.0.0.1:8086", token_file: secrets/influx.token}
        checks:
          snmp:
            - {name: sw, address: 127.0.0.1, community_file: "${CRED_DIR}/community"}
        """)
    config = load_config(path, environ={"CRED_DIR": str(tmp_path)})
    assert config.outputs[0].token == Secret("tok-from-file")
    assert config.checks.of("snmp")[0].spec.community.reveal() == "c0mmunity"


def test_an_empty_secret_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        outputs: [{type: influxdb, url: "http://127.0.0.1:8086", token_file: token}]
        """)
    assert f"secret file {tmp_path / 'token'} is empty" in str(problems_of(path))


def test_secrets_never_appear_in_messages_or_reprs(tmp_path: Path) -> None:
    secret = "S3cr3t-Value"
    (tmp_path / "pw").write_text(secret)
    path = write(tmp_path, f"""\
        agent: {{name: a1, site: lan}}
        outputs:
          - type: influxdb
            url: http://127.0.0.1:8086
            token: {secret}
            tokn: {secret}
            password_file: pw
            username: [{secret}]
          - type: influxdb
            url: http://127.0.0.2:8086
            database: replica
            token: ${{ENV_SECRET}}
            password: {{value: {secret}}}
        checks:
          snmp:
            - {{name: sw, address: 127.0.0.1, community: "{secret}${{bad"}}
        """)
    error = problems_of(path, {"ENV_SECRET": secret})
    assert len(error.problems) == 4
    assert secret not in str(error) and secret not in repr(error.problems)

    good = write(tmp_path, f"""\
        agent: {{name: a1, site: lan}}
        outputs: [{{type: influxdb, url: "http://127.0.0.1:8086", token: {secret},
                   password_file: pw}}]
        checks: {{snmp: [{{name: sw, address: 127.0.0.1, community: {secret}}}]}}
        """, "good.yaml")
    config = load_config(good, environ={})
    assert secret not in repr(config) and secret not in str(config)

    unclosed = write(tmp_path, f'agent: {{name: a1, site: lan}}\ntoken: "{secret}\n', "bad.yaml")
    assert secret not in str(problems_of(unclosed))


def test_relative_paths_start_at_the_config_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir("/")
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = write(conf_dir, "agent: {name: a1, site: lan, spool: {path: var/spool.db}}\n")
    assert load_config(path).agent.spool.path == conf_dir / "var" / "spool.db"
    default = write(conf_dir, "agent: {name: a1, site: lan}\n", "default.yaml")
    assert load_config(default).agent.spool.path == conf_dir / "var" / "spool.db"
    absolute = write(conf_dir, "agent: {name: a, site: b, spool: {path: /srv/s.db}}\n", "abs.yaml")
    assert load_config(absolute).agent.spool.path == Path("/srv/s.db")


def test_anchors_merge_and_own_keys_win(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        x-island: &island {interval: 2m, count: 10}
        checks:
          ping:
            - {<<: *island, name: ngoc-vung, address: 127.0.0.1}
            - {<<: *island, name: thang-loi, address: 127.0.0.2, count: 3}
        """)
    ping = [c.spec for c in load_config(path).checks.of("ping")]
    assert [(p.interval, p.count) for p in ping] == [(120, 10), (120, 3)]


def test_empty_sections_take_their_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "agent: {name: a1, site: lan}\noutputs:\nsites:\nchecks:\n")
    config = load_config(path)
    assert (config.outputs, config.sites, config.checks.all) == ((), (), ())


def test_the_shipped_config_loads(tmp_path: Path) -> None:
    config = load_config(REPO / "config.yaml", environ={})
    assert config.agent.spool.path == REPO / "var" / "spool.db"
    assert [c.address for c in config.checks.of("ping")] == ["127.0.0.1", "::1"]
    assert config.checks.of("snmp")[0].spec.address == "127.0.0.1"
    assert config.checks.of("host")
    assert config.outputs == ()
    assert config.source == REPO / "config.yaml"


def test_the_district_example_loads(tmp_path: Path) -> None:
    for name in ("influx-district.password", "snmp-community", "snmp-auth.key",
                 "snmp-priv.key", "smtp.password", "zalo.token"):
        (tmp_path / name).write_text(f"{name}-value\n")
    config = load_config(REPO / "docs" / "examples" / "district.yaml", environ={
        "LINKWATCH_INFLUX_TOKEN": "token-value", "CREDENTIALS_DIRECTORY": str(tmp_path)})
    sites = {s.name: s for s in config.sites}
    assert len(sites) == 20
    assert sites["district-lan"].capacity.down == 100e6
    assert sites["ngoc-vung"].parent == "quan-lan"
    assert "No Internet" in sites["thang-loi"].description
    assert {c.site for c in config.checks.of("ping")} <= set(sites)
    assert config.checks.of("snmp")[0].spec.v3.priv_key.reveal() == "snmp-priv.key-value"
    devices = config.checks.of("snmp")
    assert all(c.spec.community.reveal() == "snmp-community-value" for c in devices[1:])
    addresses = [c.address for c in config.checks.with_state()]
    assert all(a.startswith(("192.0.2.", "198.51.100.", "203.0.113.")) or a.endswith(".example")
               for a in addresses)


def test_the_minimal_form_of_the_design_loads(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent:
          name: district-agent
          site: district-lan
          spool: {path: ./var/spool.db, max_size: 256MiB, history: 30d}
        outputs:
          - type: influxdb
            url: http://127.0.0.1:8086
            version: auto
            database: linkwatch
        sites:
          - {name: district-lan, capacity: {down: 100Mbps, up: 100Mbps}}
          - {name: ngoc-vung, parent: district-lan, capacity: {down: 8Mbps, up: 2Mbps}}
        checks:
          ping:
            - {name: loopback, address: 127.0.0.1, interval: 60s, count: 5}
          snmp:
            - {name: core-switch, address: 127.0.0.1:161, version: 2c, community: public,
               interval: 60s}
          host: {interval: 60s}
        """)
    config = load_config(path)
    assert config.agent.spool.max_size == 256 * 2**20
    assert config.agent.spool.history == 30 * 86400
    assert config.sites[1].capacity.up == 2e6


def test_format_problems_is_one_entry_per_problem_then_a_count() -> None:
    problems = [
        Problem(Path("c.yaml"), "expected a duration like 60s, got '5 minutes'", 12, 15,
                "checks.ping[2].interval", "write 5m"),
        Problem(Path("c.yaml"), "the config is empty"),
    ]
    assert format_problems(problems) == (
        "c.yaml:12:15: checks.ping[2].interval: expected a duration like 60s, got '5 minutes'\n"
        "    hint: write 5m\n"
        "c.yaml: the config is empty\n"
        "2 problems in c.yaml")


class TestFindConfig:
    def test_the_command_line_wins(self, tmp_path: Path) -> None:
        given = write(tmp_path, "{}", "given.yaml")
        write(tmp_path, "{}")
        env = {"LINKWATCH_CONFIG": str(tmp_path / "config.yaml")}
        assert find_config(given, environ=env, cwd=tmp_path) == given

    def test_then_the_environment(self, tmp_path: Path) -> None:
        env_file = write(tmp_path, "{}", "env.yaml")
        write(tmp_path, "{}")
        assert find_config(None, environ={"LINKWATCH_CONFIG": str(env_file)},
                           cwd=tmp_path) == env_file

    def test_then_the_current_directory(self, tmp_path: Path) -> None:
        here = write(tmp_path, "{}")
        assert find_config(None, environ={}, cwd=tmp_path) == here

    def test_then_etc(self, tmp_path: Path, monkeypatch) -> None:
        system = write(tmp_path, "{}", "system.yaml")
        monkeypatch.setattr(discovery, "SYSTEM_CONFIG", system)
        assert find_config(None, environ={}, cwd=tmp_path / "elsewhere") == system

    def test_nothing_found_lists_what_was_tried(self, tmp_path: Path, monkeypatch) -> None:
        monkeypatch.setattr(discovery, "SYSTEM_CONFIG", tmp_path / "etc" / "config.yaml")
        with pytest.raises(ConfigError) as caught:
            find_config(None, environ={}, cwd=tmp_path)
        text = str(caught.value)
        assert text.startswith("no config file found; tried -c (not given)")
        assert text.endswith("\n1 problem")
        assert "$LINKWATCH_CONFIG (not set)" in text
        assert str(tmp_path / "config.yaml") in text
        assert str(tmp_path / "etc" / "config.yaml") in text

    @pytest.mark.parametrize("how", ["cli", "env"])
    def test_a_named_file_that_is_missing_is_not_replaced(
            self, tmp_path: Path, how: str) -> None:
        write(tmp_path, "{}")
        missing = tmp_path / "missng.yaml"
        with pytest.raises(ConfigError) as caught:
            if how == "cli":
                find_config(missing, environ={}, cwd=tmp_path)
            else:
                find_config(None, environ={"LINKWATCH_CONFIG": str(missing)}, cwd=tmp_path)
        assert f"{missing}: the config given" in str(caught.value)
        assert "does not exist" in str(caught.value)


# The builder is generic: a new check kind needs only its dataclass.
@dataclasses.dataclass(frozen=True)
class _Probe:
    name: str
    every: Seconds
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    mode: Literal["fast", "slow"] = "fast"
    rates: tuple[BitsPerSecond, ...] = ()
    buffer: Bytes | None = None
    key: Secret | None = None
    log: Path | None = None
    enabled: bool = True


def test_any_dataclass_builds_from_its_type_hints(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("key\n")
    node = yaml.compose("""\
        name: x
        every: 500ms
        weights: {a: 1, b: 2.5}
        mode: slow
        rates: [8Mbps, 1Gbps]
        buffer: 64KiB
        key_file: k
        log: logs/x.log
        enabled: no
        """.replace("        ", ""))
    builder = Builder(source=tmp_path / "c.yaml", base_dir=tmp_path, environ={})
    probe = builder.build_root(node, _Probe)
    assert builder.problems == []
    assert probe == _Probe("x", Seconds(0.5), {"a": 1.0, "b": 2.5}, "slow", (8e6, 1e9),
                           Bytes(65536), Secret("key"), tmp_path / "logs" / "x.log", False)


def test_every_config_key_declares_its_contract_beside_its_field() -> None:
    """Type, default, doc and limits live in the field (collector.keys.key); the key tables
    of docs/configuration.md are generated from them (tests/unit/test_generated_docs.py),
    and a field declared without key() has no table row to give."""
    from linkwatch.agent.config.reference import UndocumentedKey, sections

    names = [name for name, _ in sections()]     # raises UndocumentedKey for a bare field
    assert "checks.snmp[].oids[]" in names and "sites[].requirements" in names
    with pytest.raises(UndocumentedKey, match=r"_BurstCheck: declare name, interval, timeout "
                                              r"with collector\.keys\.key"):
        sections((*BUILTIN, _BURST))


@dataclasses.dataclass(frozen=True)
class _BurstCheck:
    """A probe kind of another package: its `count` declares no limit, and its interval and
    timeout are plain fields, without key()."""

    name: str
    interval: Seconds = Seconds(60)
    timeout: Seconds | None = None
    count: int = key(5, doc="packets per burst")


_BURST = ProbeKind(kind="burst", check=_BurstCheck, module="tests.unit.no_such_probe",
                   title="burst target")


def _with_burst(tmp_path: Path, item: str) -> Path:
    return write(tmp_path, f"""\
        agent: {{name: a1, site: lan}}
        checks:
          burst:
            - {item}
        """)


def test_a_field_named_like_another_kinds_takes_no_limit_from_it(tmp_path: Path) -> None:
    # ping's `count` is 1 to 100; a `count` of another kind has only the limits it declares
    path = _with_burst(tmp_path, "{name: b1, count: 1000}")
    config = load_config(path, environ={}, probes=(*BUILTIN, _BURST))
    assert config.checks.of("burst")[0].spec.count == 1000


@pytest.mark.parametrize(("item", "message"), [
    ("{name: b1, interval: 0s}", "interval must be more than zero, got 0s"),
    ("{name: b1, interval: 10s, timeout: 0s}", "timeout must be more than zero, got 0s"),
    ("{name: b1, interval: 10s, timeout: 20s}", "timeout 20s is longer than the interval 10s"),
])
def test_every_kind_of_check_needs_a_schedule_that_can_run(tmp_path: Path, item: str,
                                                           message: str) -> None:
    error = problems_of_with(_with_burst(tmp_path, item), probes=(*BUILTIN, _BURST))
    assert [p.message for p in error.problems] == [message]


def problems_of_with(path: Path, probes: tuple[ProbeKind, ...]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={}, probes=probes)
    return caught.value


def test_every_secret_is_collected_for_the_log_filter(tmp_path: Path) -> None:
    from linkwatch.agent.config.secrets import collect_secrets

    (tmp_path / "auth").write_text("auth-pass-phrase\n")
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        outputs: [{type: influxdb, url: "http://127.0.0.1:8086", token: "${TOKEN}"}]
        checks:
          snmp:
            - {name: sw1, address: 127.0.0.1, community: c0mm}
            - name: sw2
              address: 127.0.0.2
              version: "3"
              v3: {username: u, auth_protocol: sha, auth_key_file: auth}
        """)
    config = load_config(path, environ={"TOKEN": "tok"})
    assert collect_secrets(config) == {"tok", "c0mm", "public", "auth-pass-phrase"}


def test_commands_that_send_nothing_load_without_reading_secrets(tmp_path: Path) -> None:
    # On a service install the secret files are root:linkwatch 0640; an IT person asking
    # `linkwatch uptime --local` must not need them.
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        outputs:
          - {type: influxdb, url: "http://127.0.0.1:8086", token: "${UNSET_TOKEN}"}
          - {type: influxdb, url: "http://127.0.0.1:8087", database: b, password_file: nope}
        checks:
          snmp:
            - {name: sw, address: 127.0.0.1, community_file: missing}
        """)
    assert len(problems_of(path).problems) == 3
    config = load_config(path, environ={}, secrets=False)
    assert [o.queue_name for o in config.outputs] == ["influxdb:linkwatch", "influxdb:b"]
    assert config.checks.of("snmp")[0].name == "sw"


@pytest.mark.parametrize(("text", "expected"), [
    ("agent: {name: a\x1b[2Jb, site: lan}\n", "c.yaml:1:16: character U+001B is not allowed"),
    ("agent: {name: a, site: lan}\n# \x9b from a sysDescr\n", "c.yaml:2:3: character U+009B"),
    ("agent: {name: a, site: lan}\nx-deep: " + "{a: " * 990 + "1" + "}" * 990 + "\n",
     "c.yaml: the config is nested too deeply"),
    ("agent: {name: a, site: lan}\nx-deep: " + "[" * 990 + "]" * 990 + "\n",
     "c.yaml: the config is nested too deeply"),
])
def test_a_character_or_a_depth_yaml_cannot_read_is_a_config_error(tmp_path: Path, text,
                                                                   expected) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert expected in str(e.value)


def test_a_user_or_password_in_an_output_url_is_refused_without_being_shown(
        tmp_path: Path) -> None:
    from linkwatch.agent.config.schema import shown_url

    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        outputs:
          - {type: influxdb, url: "http://admin:hunter2@127.0.0.1:8086"}
          - {type: influxdb, name: b, url: "ftp://admin:hunter2@127.0.0.1"}
        """)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = str(e.value)
    assert "hunter2" not in text and "admin" not in text
    assert "outputs[0].url: the url holds a user name or password ('http://***@127.0.0.1:8086')" \
        in text
    assert "password_file" in text
    assert shown_url("https://u:p@[2001:db8::1]:8086/x?y=1") == "https://***@[2001:db8::1]:8086/x?y=1"
    assert shown_url("http://127.0.0.1:8086") == "http://127.0.0.1:8086"


def test_a_short_snmpv3_key_and_an_empty_name_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        agent: {name: a1, site: lan}
        sites: [{name: lan}, {name: " "}]
        checks:
          ping:
            - {name: "", address: 127.0.0.1}
            - {name: "\\\\", address: 127.0.0.2}
          snmp:
            - name: core
              address: 127.0.0.1
              version: "3"
              v3: {username: u, auth_protocol: sha, auth_key: 1234567,
                   priv_protocol: aes, priv_key: long-enough}
        """)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = str(e.value)
    assert "checks.snmp[0].v3: v3 user 'u': auth_key shorter than 8 characters" in text
    assert "set a longer passphrase on the device and here" in text
    assert "1234567" not in text
    for path in ("sites[1].name", "checks.ping[0].name", "checks.ping[1].name"):
        assert f"{path}: the name" in text and "is empty" in text


@pytest.mark.parametrize("named", ["/dev/zero", "fifo", "big"])
def test_a_secret_file_that_is_a_device_a_fifo_or_too_big_is_refused(tmp_path: Path,
                                                                     named: str) -> None:
    target = Path(named) if named.startswith("/") else tmp_path / named
    if named == "fifo":
        os.mkfifo(target)                    # reading it would wait for a writer for ever
    elif named == "big":
        target.write_bytes(b"x" * (1 << 20))
    path = write(tmp_path, f"""\
        agent: {{name: a1, site: lan}}
        outputs: [{{type: influxdb, url: "http://127.0.0.1:8086", token_file: {target}}}]
        """)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "outputs[0].token_file: secret file" in str(e.value)
    assert "is not a regular file" in str(e.value) or "larger than 64 KiB" in str(e.value)
