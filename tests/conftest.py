"""Session fixtures: real servers started once per session on private loopback ports.

Each server lives in its own module under tests/servers/; they are registered here so
every test directory can ask for them by name.
"""

pytest_plugins = [
    "tests.servers.influxdb",
    "tests.servers.victoria",
    "tests.servers.vmauth",
    "tests.servers.snmpd",
    "tests.servers.snmpsim",
    "tests.servers.alertmanager",
    "tests.servers.smtp",
]
