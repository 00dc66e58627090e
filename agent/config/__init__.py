"""The agent's configuration: found, read with line numbers, built into frozen dataclasses.

    path = find_config(cli_path)          # -c, $LINKWATCH_CONFIG, ./config.yaml, /etc/...
    config = load_config(path)            # raises ConfigError with every problem at once
"""

from linkwatch.agent.config.discovery import find_config
from linkwatch.agent.config.errors import ConfigError, Problem, format_problems
from linkwatch.agent.config.loader import load_config
from linkwatch.agent.config.schema import (
    AgentSettings,
    Capacity,
    Checks,
    Config,
    InfluxOutput,
    Site,
    SpoolSettings,
)

__all__ = [
    "AgentSettings",
    "Capacity",
    "Checks",
    "Config",
    "ConfigError",
    "InfluxOutput",
    "Problem",
    "Site",
    "SpoolSettings",
    "find_config",
    "format_problems",
    "load_config",
]
