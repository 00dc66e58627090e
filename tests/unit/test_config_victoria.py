"""A `victoriametrics` output: a single node (`url`) or a cluster (`insert_url`,
`select_url`, `tenant`), told apart from `influxdb` outputs by `type:`; the paths it writes
and reads; `--output` choosing it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from linkwatch.agent.config import ConfigError, load_config
from linkwatch.agent.config.schema import InfluxOutput, VictoriaOutput


def load(tmp_path: Path, outputs: str):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""\
        agent: {name: a1, site: lan}
        outputs:
        """) + textwrap.indent(textwrap.dedent(outputs), "  "), encoding="utf-8")
    return load_config(path, environ={"VM_TOKEN": "t0k"})


def problems(tmp_path: Path, outputs: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, outputs)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def test_single_node_and_cluster_side_by_side_with_influxdb(tmp_path):
    config = load(tmp_path, """\
        - {type: influxdb, url: "http://127.0.0.1:8086"}
        - {type: victoriametrics, url: "http://127.0.0.1:8428/"}
        - type: victoriametrics
          insert_url: http://vminsert:8480
          select_url: http://vmselect:8481
          tenant: "42:1"
          token: ${VM_TOKEN}
        """)
    influx, single, cluster = config.outputs
    assert isinstance(influx, InfluxOutput)
    assert isinstance(single, VictoriaOutput) and isinstance(cluster, VictoriaOutput)
    assert (single.queue_name, cluster.queue_name) == ("victoriametrics",
                                                       "victoriametrics:42:1")
    assert single.write_url == "http://127.0.0.1:8428/write"
    assert single.read_url == "http://127.0.0.1:8428"
    assert cluster.write_url == "http://vminsert:8480/insert/42:1/influx/write"
    assert cluster.read_url == "http://vmselect:8481/select/42:1/prometheus"
    assert cluster.token is not None and cluster.token.reveal() == "t0k"
    assert config.output("victoriametrics:42:1") is cluster
    assert config.output("http://vmselect:8481") is cluster
    assert config.output() is influx and config.output("nope") is None


@pytest.mark.parametrize(("outputs", "expected"), [
    ('- {type: victoriametrics, url: "http://a:8428", insert_url: "http://b:8480"}',
     "outputs[0].insert_url: a victoriametrics output is a single node (url) or a cluster"),
    ('- {type: victoriametrics, insert_url: "http://b:8480"}',
     "outputs[0]: a victoriametrics output needs `url:` (single node) or `insert_url:` and "
     "`select_url:` (cluster); select_url missing"),
    ('- {type: victoriametrics, insert_url: "http://b", select_url: "http://c", '
     'tenant: "x"}',
     "outputs[0].tenant: tenant must be accountID or accountID:projectID (numbers), got 'x'"),
    ('- {type: victoriametrics, url: "http://a:8428", tenant: "3"}',
     "outputs[0].tenant: tenant applies to a cluster only"),
    ('- {type: victoriametrics, url: "a:8428"}',
     "outputs[0].url: expected a URL like http://127.0.0.1:8428, got 'a:8428'"),
    ('- {type: victoria, url: "http://a:8428"}',
     "outputs[0].type: expected one of 'influxdb', 'victoriametrics', got 'victoria'"),
    ('- {url: "http://a:8428"}', "outputs[0].type: missing required key 'type'"),
    ('- {type: victoriametrics, url: "http://a:8428", batch_size: 0}',
     "outputs[0].batch_size: batch_size must be from 1 to 100000, got 0"),
    ('- {type: victoriametrics, url: "http://a:8428", database: x}',
     "outputs[0].database: unknown key 'database'"),
    ('- {type: victoriametrics, url: "http://a:8428"}\n'
     '- {type: victoriametrics, url: "http://b:8428"}',
     "outputs[1].name: another output is already named 'victoriametrics' (line 3)"),
])
def test_a_wrong_output_is_named_with_its_fix(tmp_path, outputs, expected):
    assert any(p.startswith(expected) for p in problems(tmp_path, outputs))
