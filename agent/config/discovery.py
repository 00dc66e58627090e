"""Where the config is: `-c`, else $LINKWATCH_CONFIG, else ./config.yaml, else /etc."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from linkwatch.agent.config.errors import ConfigError, Problem

ENV_VAR = "LINKWATCH_CONFIG"
SYSTEM_CONFIG = Path("/etc/linkwatch/config.yaml")


def find_config(cli_path: Path | None = None, *, environ: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Path:
    """The config file to use; raises ConfigError naming every place that was tried.

    A path given with -c or $LINKWATCH_CONFIG must exist: falling back to another file
    would run the agent with a config the user did not ask for.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    if cli_path is not None:
        return _must_exist(cli_path, "given with -c")
    if environ.get(ENV_VAR):
        return _must_exist(Path(environ[ENV_VAR]), f"given by ${ENV_VAR}")
    for candidate in (cwd / "config.yaml", SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    tried = f"-c (not given), ${ENV_VAR} (not set), {cwd / 'config.yaml'}, {SYSTEM_CONFIG}"
    raise ConfigError([Problem(None, f"no config file found; tried {tried}",
                               hint="pass -c /path/to/config.yaml, or copy the shipped "
                                    f"config.yaml to {SYSTEM_CONFIG}")])


def _must_exist(path: Path, how: str) -> Path:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError([Problem(path, f"the config {how} {what}",
                                   hint="check the path, or leave it out to use "
                                        f"./config.yaml or {SYSTEM_CONFIG}")])
    return path
