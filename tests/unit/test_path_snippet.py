"""The YAML `linkwatch discover --config-snippet` prints loads as a valid config."""

from __future__ import annotations

from linkwatch.agent.config import load_config
from linkwatch.collector.path.arp import Neighbour
from linkwatch.collector.path.identify import Identity
from linkwatch.collector.path.snippet import config_snippet

FOUND = [Neighbour("192.0.2.2", "02:00:00:00:00:02"), Neighbour("192.0.2.3", "02:00:00:00:00:03"),
         Neighbour("192.0.2.4", "02:00:00:00:00:04")]
IDENTITIES = {
    "192.0.2.2": Identity("192.0.2.2", "dept ro", "Core Switch #1",
                          "Cisco IOS\nVersion 15\x1b]0;x\x07\x01\x85\u202e", "1.3.6.1.4.1.9.1.1"),
    "192.0.2.3": Identity("192.0.2.3", "public", "core switch 1", None, None),
}


def test_names_are_config_safe_and_unique_and_the_snippet_loads(tmp_path):
    snippet = config_snippet(FOUND, IDENTITIES)
    config = tmp_path / "config.yaml"
    config.write_text(
        "agent:\n  name: a\n  site: s\n"
        f"  spool: {{path: {tmp_path / 'spool.db'}, max_size: 16MiB, history: 1d}}\n"
        "outputs: []\nsites:\n  - {name: s}\n" + snippet)
    checks = load_config(config).checks
    assert [(c.name, c.address) for c in checks.of("ping")] == [
        ("core-switch-1", "192.0.2.2"), ("core-switch-1-2", "192.0.2.3"),
        ("host-192-0-2-4", "192.0.2.4")]
    assert [(c.name, c.spec.community.reveal()) for c in checks.of("snmp")] == [
        ("core-switch-1", "dept ro"), ("core-switch-1-2", "public")]
    assert "# Cisco IOS Version 15 ]0;x" in snippet   # control characters left out


def test_the_snippet_names_the_profile_the_sysobjectid_selects(tmp_path):
    from linkwatch.collector.snmp.profiles import shipped_catalog

    found = [Neighbour("192.0.2.7", "02:00:00:00:00:07"),
             Neighbour("192.0.2.8", "02:00:00:00:00:08")]
    identities = {
        "192.0.2.7": Identity("192.0.2.7", "public", "ngoc-vung-ap", "Linux 2.6.32 mips",
                              "1.3.6.1.4.1.41112.1.4"),
        "192.0.2.8": Identity("192.0.2.8", "public", "sw", "Cisco IOS", "1.3.6.1.4.1.9.1.1"),
    }
    snippet = config_snippet(found, identities, profiles=shipped_catalog())
    config = tmp_path / "config.yaml"
    config.write_text("agent: {name: a, site: s}\n" + snippet)
    snmp = {c.name: c.spec.profile for c in load_config(config).checks.of("snmp")}
    assert snmp == {"ngoc-vung-ap": "ubiquiti-airmax", "sw": "auto"}   # none for the switch
