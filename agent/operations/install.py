"""Installing the agent as a systemd service, and removing it again.

An install is a virtual environment holding linkwatch with its report extra
(`/opt/linkwatch`), the units (`/etc/systemd/system/linkwatch-agent.service`, and the
monthly report's `linkwatch-report.service` and `.timer`), the `linkwatch` system user and a
config skeleton (`/etc/linkwatch/config.yaml`, never overwritten). Each change is a `Step` with the
shell command a person would type for it, so `--dry-run` prints exactly what would happen:

    layout = Layout(prefix=Path("/opt/linkwatch"))
    for step in install_steps(layout, source=find_source(None), python=default_python()):
        print(step.command)     # or step.run()

The units and the config skeleton are read from `share/linkwatch/` of the environment just
installed (setup.cfg's data_files), so they always match the installed version; in a dry
run, or before that, from the source tree or the running installation.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

UNIT_NAME = "linkwatch-agent.service"
REPORT_UNIT = "linkwatch-report.service"
REPORT_TIMER = "linkwatch-report.timer"
UNIT_NAMES = (UNIT_NAME, REPORT_UNIT, REPORT_TIMER)
# The report unit renders its monthly report with matplotlib (the `report` extra).
EXTRAS = "[report]"
CONFIG_TEMPLATE = Path("config.yaml")
SHARE = Path("share") / "linkwatch"

# What the shipped unit and config say; an install elsewhere rewrites exactly these.
DEFAULT_PROGRAM = "/opt/linkwatch/bin/linkwatch"
DEFAULT_CONFIG = "/etc/linkwatch/config.yaml"
DEFAULT_ENVIRONMENT = "/etc/linkwatch/environment"
DEFAULT_STATE_DIR = Path("/var/lib/linkwatch")
DEFAULT_SPOOL_LINE = "path: ./var/spool.db"

# Not worth copying when building from a source tree (and `var/` holds a live spool).
_NOT_SOURCE = (".git", ".venv", "venv", "var", "build", "dist", "*.egg-info", "__pycache__",
               ".pytest_cache", ".ruff_cache", "tests", "bench", "*.db", "*.db-wal", "*.db-shm")


class InstallError(Exception):
    """Something the person running the install must fix; the message says what."""


@dataclass(frozen=True)
class Layout:
    """Where an install puts things. The defaults are what the shipped unit expects."""

    prefix: Path = Path("/opt/linkwatch")
    config_dir: Path = Path("/etc/linkwatch")
    systemd_dir: Path = Path("/etc/systemd/system")
    state_dir: Path = DEFAULT_STATE_DIR
    user: str = "linkwatch"

    @property
    def program(self) -> Path:
        return self.prefix / "bin" / "linkwatch"

    @property
    def config(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def environment(self) -> Path:
        return self.config_dir / "environment"

    @property
    def unit(self) -> Path:
        return self.systemd_dir / UNIT_NAME

    @property
    def units(self) -> tuple[Path, ...]:
        """The agent's unit, then the report's service and timer."""
        return tuple(self.systemd_dir / name for name in UNIT_NAMES)


@dataclass
class Step:
    """One change: `command` is how a person would make it by hand, `run` makes it."""

    command: str
    run: Callable[[], None] = field(repr=False)
    note: str = ""


def systemd_running() -> bool:
    """True when the machine was booted with systemd (sd_booted(3)), so systemctl works."""
    return Path("/run/systemd/system").is_dir()


# ---------------------------------------------------------------------------- sources


def source_tree() -> Path | None:
    """The checkout this code runs from, when it is one (not an installed copy)."""
    root = Path(__file__).resolve().parents[2]
    setup = root / "setup.cfg"
    if setup.is_file() and "name = linkwatch" in setup.read_text(errors="replace"):
        return root
    return None


def find_source(explicit: str | None) -> str:
    """What `pip install` gets: a source directory, a wheel, or a requirement.

    In order: `explicit`; the source tree this code runs from; where the running linkwatch
    was installed from (pip's direct_url.json: a directory or a wheel file); the same
    version from the package index.
    """
    if explicit:
        path = Path(explicit).expanduser()
        return str(path.resolve()) if path.exists() else explicit
    tree = source_tree()
    if tree is not None:
        return str(tree)
    try:
        dist = metadata.distribution("linkwatch")
    except metadata.PackageNotFoundError as e:
        raise InstallError("cannot tell where linkwatch comes from: pass --source with a "
                           "source directory or a wheel file") from e
    direct = dist.read_text("direct_url.json")
    if direct:
        url = json.loads(direct).get("url", "")
        parsed = urlparse(url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
            if path.exists():
                return str(path)
            raise InstallError(f"linkwatch was installed from {path}, which no longer exists: "
                               "pass --source with a source directory or a wheel file")
        if url:
            return url
    return f"linkwatch=={dist.version}"


def default_python() -> str:
    """The interpreter behind the running one (outside any virtual environment)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def unreachable_by_others(path: Path) -> Path | None:
    """The first directory on `path` (or `path` itself) other users cannot get through.

    The service runs as an unprivileged user, which must be able to run the interpreter the
    virtual environment links to: an interpreter under /root (pyenv, conda) is out of reach.
    """
    real = Path(os.path.realpath(path))
    for directory in reversed(real.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    mode = real.stat().st_mode
    return None if mode & stat.S_IXOTH and mode & stat.S_IROTH else real


def shipped_file(relative: Path, *, prefix: Path | None = None) -> Path:
    """`relative` (config.yaml, systemd/…) from the first place that has it."""
    places = []
    if prefix is not None:
        places.append(prefix / SHARE)
    tree = source_tree()
    if tree is not None:
        places.append(tree)
    places.append(Path(sys.prefix) / SHARE)
    for place in places:
        if (place / relative).is_file():
            return place / relative
    raise InstallError(f"{relative} not found in {', '.join(map(str, places))}: "
                       "reinstall linkwatch (`pip install .` from its source)")


# ------------------------------------------------------------------- rendered files


def render_unit(template: str, layout: Layout, *, origin: Path) -> str:
    """The shipped unit with this layout's paths and user."""
    text = _replace(template, DEFAULT_PROGRAM, str(layout.program), origin)
    text = _replace(text, f"-c {DEFAULT_CONFIG}", f"-c {layout.config}", origin)
    text = _replace(text, DEFAULT_ENVIRONMENT, str(layout.environment), origin)
    text = _replace(text, "\nUser=linkwatch\n", f"\nUser={layout.user}\n", origin)
    text = _replace(text, "\nGroup=linkwatch\n", f"\nGroup={layout.user}\n", origin)
    if layout.state_dir != DEFAULT_STATE_DIR:
        state = layout.state_dir
        try:  # systemd creates and owns a directory under /var/lib itself
            replacement = f"StateDirectory={state.relative_to('/var/lib')}"
        except ValueError:  # anywhere else the install creates it; the service may write it
            replacement = f"ReadWritePaths={state}"
        text = _replace(text, "\nStateDirectory=linkwatch\n", f"\n{replacement}\n", origin)
        text = _replace(text, f"\nWorkingDirectory={DEFAULT_STATE_DIR}\n",
                        f"\nWorkingDirectory={state}\n", origin)
    if layout.config_dir != Path(DEFAULT_CONFIG).parent:
        try:
            replacement = f"ConfigurationDirectory={layout.config_dir.relative_to('/etc')}"
        except ValueError:
            replacement = "# ConfigurationDirectory= not used: the install created the directory"
        text = _replace(text, "\nConfigurationDirectory=linkwatch\n", f"\n{replacement}\n",
                        origin)
    return text


def render_report_unit(template: str, layout: Layout, *, origin: Path) -> str:
    """The shipped report service with this layout's paths and user."""
    text = _replace(template, DEFAULT_PROGRAM, str(layout.program), origin)
    text = _replace(text, f"LINKWATCH_CONFIG={DEFAULT_CONFIG}", f"LINKWATCH_CONFIG={layout.config}",
                    origin)
    text = _replace(text, DEFAULT_ENVIRONMENT, str(layout.environment), origin)
    text = _replace(text, "\nUser=linkwatch\n", f"\nUser={layout.user}\n", origin)
    text = _replace(text, "\nGroup=linkwatch\n", f"\nGroup={layout.user}\n", origin)
    return _replace(text, f"{DEFAULT_STATE_DIR}", str(layout.state_dir), origin)


def render(name: str, template: str, layout: Layout, *, origin: Path) -> str:
    """The unit file `name` as this layout installs it (the timer names no path)."""
    if name == UNIT_NAME:
        return render_unit(template, layout, origin=origin)
    if name == REPORT_UNIT:
        return render_report_unit(template, layout, origin=origin)
    return template


def render_config(template: str, layout: Layout, *, origin: Path, version: str) -> str:
    """The default config with its spool in the state directory, readable by the service's
    group (IT staff added to it read the history with `status --local`)."""
    spool = layout.state_dir / "spool.db"
    line = next(text for text in template.splitlines() if DEFAULT_SPOOL_LINE in text)
    indent = line[:len(line) - len(line.lstrip())]
    body = _replace(template, line, f"{indent}path: {spool}\n{indent}group_readable: true",
                    origin)
    header = (
        f"# Written by `linkwatch agent install` (linkwatch {version}); an install never\n"
        "# overwrites it. After a change:\n"
        f"#   {layout.program} config check -c {layout.config}\n"
        "#   systemctl reload linkwatch-agent\n"
    )
    return header + body


def _replace(text: str, old: str, new: str, origin: Path) -> str:
    if old not in text:
        raise InstallError(f"{origin}: expected {old.strip()!r} in the shipped file; "
                           "it changed without agent/operations/install.py following it")
    return text.replace(old, new)


# --------------------------------------------------------------------------- install


def install_steps(layout: Layout, *, source: str, python: str) -> Iterator[Step]:
    """The changes that install (or upgrade) the agent, in order.

    A generator: the later steps read the files the earlier ones installed, so each step
    must have run before the next one is asked for (a dry run reads the shipped files
    from the running installation instead).
    """
    venv_python = layout.prefix / "bin" / "python"
    # what this install makes, added to what an earlier install of this prefix made: only
    # these are removed by `uninstall --purge`
    created = set(read_created(layout))
    state_existed, user_existed = layout.state_dir.exists(), _user_exists(layout.user)
    if state_existed and user_existed:
        _require_writable(layout.state_dir, layout.user)    # before anything is changed
    if not (layout.prefix / "pyvenv.cfg").is_file():
        if layout.prefix.exists() and any(layout.prefix.iterdir()):
            raise InstallError(f"{layout.prefix} exists and is not a virtual environment: "
                               "choose another --prefix or remove it")
        yield Step(f"{shlex.quote(python)} -m venv {layout.prefix}",
                   lambda: _run([python, "-m", "venv", str(layout.prefix)]))
    yield Step(f"{layout.prefix}/bin/pip install --upgrade {shlex.quote(with_extras(source))}",
               lambda: _pip_install(venv_python, source))

    if _user_exists(layout.user):
        yield Step(f"# user {layout.user} exists", lambda: None)
    else:
        created.add(CREATED_USER)
        yield Step(
            f"useradd --system --user-group --home-dir {layout.state_dir} --no-create-home "
            f"--shell /usr/sbin/nologin {layout.user}",
            lambda: _run(["useradd", "--system", "--user-group", "--home-dir",
                          str(layout.state_dir), "--no-create-home", "--shell",
                          "/usr/sbin/nologin", layout.user]))
    if state_existed:
        # an existing directory is the administrator's: never chowned or chmodded
        yield Step(f"# {layout.state_dir} exists: kept as it is (owner and mode)"
                   + ("" if user_existed else f"; if it is linkwatch's alone, `chown "
                      f"{layout.user}: {layout.state_dir}` so the service may write it"),
                   lambda: None)
    else:
        created.add(CREATED_STATE_DIR)
        if layout.state_dir != DEFAULT_STATE_DIR and not _under(layout.state_dir, "/var/lib"):
            yield Step(f"install -d -m 0750 -o {layout.user} -g {layout.user} "
                       f"{layout.state_dir}",
                       lambda: _make_dir(layout.state_dir, 0o750, owner=layout.user))

    if layout.config_dir.exists():
        yield Step(f"# {layout.config_dir} exists: kept as it is (owner and mode)",
                   lambda: None)
    else:
        created.add(CREATED_CONFIG_DIR)
        yield Step(f"install -d -m 0755 {layout.config_dir}",
                   lambda: _make_dir(layout.config_dir, 0o755))
    if layout.config.exists():
        yield Step(f"# {layout.config} exists: kept as it is", lambda: None)
    else:
        created.add(CREATED_CONFIG)
        yield Step(
            f"install -m 0640 -o root -g {layout.user} config.yaml {layout.config}"
            f"  # spool: {layout.state_dir / 'spool.db'}",
            lambda: _write_config(layout))

    for unit in layout.units:
        origin = shipped_file(Path("systemd") / unit.name, prefix=layout.prefix)
        note = (f"  # ExecStart={layout.program}, User={layout.user}"
                if unit.suffix == ".service" else "")
        yield Step(f"install -m 0644 {origin} {unit}{note}",
                   functools.partial(_write_unit, layout, unit))
    yield Step(f"{layout.program} config check -c {layout.config}",
               lambda: _run([str(layout.program), "config", "check", "-c",
                             str(layout.config)]))
    yield Step(f"write {record_path(layout)}  # what the install created, for "
               f"uninstall --purge: {', '.join(sorted(created)) or 'nothing'}",
               lambda: _write_created(layout, created))
    if systemd_running():
        yield Step("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"]))
        # An upgrade takes effect at once: a running agent is restarted on the new version
        # (its spool and queue are kept); a stopped one stays stopped.
        yield Step(f"systemctl try-restart {UNIT_NAME}",
                   lambda: _run(["systemctl", "try-restart", UNIT_NAME]))


def next_steps(layout: Layout) -> str:
    """What the person does after an install: edit, check, start, watch."""
    lines = [
        "Next steps:",
        f"  1. Edit {layout.config} (targets, outputs, site names), then check it:",
        f"       {layout.program} config check -c {layout.config}",
    ]
    if not systemd_running():
        lines += ["  2. This machine was not booted with systemd; on the server:",
                  "       systemctl daemon-reload",
                  "       systemctl try-restart linkwatch-agent   # after an upgrade"]
    else:
        lines.append("  2. (systemctl daemon-reload was run, and a running agent restarted)")
    lines += [
        "  3. Start the agent now and at every boot, and the monthly report's timer:",
        "       systemctl enable --now linkwatch-agent",
        f"       systemctl enable --now {REPORT_TIMER}",
        "  4. Watch it:",
        "       systemctl status linkwatch-agent",
        "       journalctl -u linkwatch-agent -f",
        f"       sudo -u {layout.user} {layout.program} status --local -c {layout.config}",
    ]
    return "\n".join(lines)


def with_extras(source: str) -> str:
    """`source` as pip is asked for it: with the report extra (a path or a URL as
    `linkwatch[report] @ …` would not take a local path, so `path[report]`)."""
    if source.startswith(("http://", "https://", "file:")):
        return f"linkwatch{EXTRAS} @ {source}"
    if Path(source).exists():
        return source + EXTRAS
    # a requirement: linkwatch==0.2.0
    name, rest = source[:len("linkwatch")], source[len("linkwatch"):]
    if name.lower() == "linkwatch" and not rest.startswith("["):
        return name + EXTRAS + rest
    return source


def _pip_install(venv_python: Path, source: str) -> None:
    path = Path(source)
    if not path.is_dir():
        _run([str(venv_python), "-m", "pip", "install", "--quiet", "--upgrade",
              with_extras(source)])
        return
    # pip builds inside a source directory (build/, *.egg-info): build from a copy, so the
    # tree may be read-only and no stale build/ leaks removed modules into the install.
    with tempfile.TemporaryDirectory(prefix="linkwatch-build-") as scratch:
        copy = Path(scratch) / "linkwatch"
        shutil.copytree(path, copy, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        _run([str(venv_python), "-m", "pip", "install", "--quiet", "--upgrade",
              with_extras(str(copy))])


def _write_config(layout: Layout) -> None:
    origin = shipped_file(CONFIG_TEMPLATE, prefix=layout.prefix)
    version = _installed_version(layout) or "unknown"
    text = render_config(origin.read_text(), layout, origin=origin, version=version)
    # O_EXCL: a config that appeared since the check is still never overwritten
    fd = os.open(layout.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chown(layout.config, 0, grp.getgrnam(layout.user).gr_gid)
    os.chmod(layout.config, 0o640)


def _write_unit(layout: Layout, unit: Path) -> None:
    origin = shipped_file(Path("systemd") / unit.name, prefix=layout.prefix)
    text = render(unit.name, origin.read_text(), layout, origin=origin)
    layout.systemd_dir.mkdir(parents=True, exist_ok=True)
    scratch = unit.with_name(unit.name + ".new")
    scratch.write_text(text)
    scratch.chmod(0o644)
    scratch.replace(unit)


def _installed_version(layout: Layout) -> str | None:
    found = subprocess.run(
        [str(layout.prefix / "bin" / "python"), "-c",
         "from importlib.metadata import version; print(version('linkwatch'))"],
        capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


# ------------------------------------------------------------------------- uninstall


def uninstall_steps(layout: Layout, *, purge: bool) -> Iterator[Step]:
    """The changes that remove the agent; config and spool stay unless `purge`, and even
    then only what the install created (its record in the prefix) is removed."""
    created = read_created(layout)
    if systemd_running():
        yield Step(f"systemctl disable --now {UNIT_NAME} {REPORT_TIMER}",
                   lambda: _run(["systemctl", "disable", "--now", UNIT_NAME, REPORT_TIMER],
                                check=False))
    for unit in layout.units:
        if unit.exists():
            yield Step(f"rm {unit}", unit.unlink)
    if (layout.prefix / "pyvenv.cfg").is_file():
        yield Step(f"rm -r {layout.prefix}", lambda: shutil.rmtree(layout.prefix))
    elif layout.prefix.exists():
        raise InstallError(f"{layout.prefix} is not a virtual environment made by "
                           "`linkwatch agent install`; remove it by hand if it is")
    if systemd_running():
        yield Step("systemctl daemon-reload", lambda: _run(["systemctl", "daemon-reload"]))
    if not purge:
        return
    yield from _purge_steps(layout, created)


def _purge_steps(layout: Layout, created: frozenset[str]) -> Iterator[Step]:
    def kept(path: object) -> Step:
        return Step(f"# {path} kept: the install did not create it", lambda: None)

    if layout.config.exists():
        yield (Step(f"rm {layout.config}", layout.config.unlink) if CREATED_CONFIG in created
               else kept(layout.config))
    if record_path(layout).exists():
        yield Step(f"rm {record_path(layout)}", record_path(layout).unlink)
    if layout.environment.exists():
        yield kept(layout.environment)
    if layout.config_dir.is_dir():
        yield (Step(f"rmdir {layout.config_dir}  # if empty",
                    lambda: _remove_if_empty(layout.config_dir))
               if CREATED_CONFIG_DIR in created else kept(layout.config_dir))
    if layout.state_dir.exists():
        yield (Step(f"rm -r {layout.state_dir}", lambda: shutil.rmtree(layout.state_dir))
               if CREATED_STATE_DIR in created else kept(layout.state_dir))
    if _user_exists(layout.user):
        user = pwd.getpwnam(layout.user)
        if CREATED_USER not in created:
            yield kept(f"user {layout.user}")
        elif user.pw_uid >= 1000:  # a person's account, not the one an install created
            raise InstallError(f"user {layout.user} (uid {user.pw_uid}) is not a system "
                               "user: not removing it")
        else:
            yield Step(f"userdel {layout.user}", lambda: _run(["userdel", layout.user]))


# ---------------------------------------------------------------- what install created

RECORD = "install-record.json"    # in the config directory: a plain uninstall keeps it
CREATED_CONFIG_DIR, CREATED_CONFIG = "config_dir", "config"
CREATED_STATE_DIR, CREATED_USER = "state_dir", "user"


def record_path(layout: Layout) -> Path:
    return layout.config_dir / RECORD


def read_created(layout: Layout) -> frozenset[str]:
    """What the installs of this layout created; nothing without a record (an install of
    an older version, or none): then a purge removes nothing it cannot vouch for."""
    try:
        raw = json.loads(record_path(layout).read_text())
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(raw, dict) or not isinstance(raw.get("created"), list):
        return frozenset()
    paths = {CREATED_CONFIG_DIR: layout.config_dir, CREATED_CONFIG: layout.config,
             CREATED_STATE_DIR: layout.state_dir, CREATED_USER: layout.user}
    # an entry counts only for the same path (or user) this layout names
    return frozenset(k for k in raw["created"] if k in paths
                     and raw.get("paths", {}).get(k) == str(paths[k]))


def _write_created(layout: Layout, created: set[str]) -> None:
    paths = {CREATED_CONFIG_DIR: layout.config_dir, CREATED_CONFIG: layout.config,
             CREATED_STATE_DIR: layout.state_dir, CREATED_USER: layout.user}
    record_path(layout).write_text(json.dumps({
        "created": sorted(created), "paths": {k: str(paths[k]) for k in sorted(created)},
    }, indent=2) + "\n")


def _require_writable(path: Path, user: str) -> None:
    """An existing state directory must already be the service user's to write: the
    install never changes its owner or mode."""
    info, account = path.stat(), pwd.getpwnam(user)
    mode = info.st_mode
    groups = {account.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    writable = ((info.st_uid == account.pw_uid and mode & stat.S_IWUSR and mode & stat.S_IXUSR)
                or (info.st_gid in groups and mode & stat.S_IWGRP and mode & stat.S_IXGRP)
                or (mode & stat.S_IWOTH and mode & stat.S_IXOTH))
    if not writable:
        raise InstallError(f"{path} exists and the service user {user} cannot write it; the "
                           "install does not change an existing directory's owner: choose a "
                           f"new --state-dir, or if {path} is linkwatch's alone, "
                           f"`chown {user}: {path}` and install again")


def kept_after_uninstall(layout: Layout) -> str:
    return (f"Kept {layout.config_dir} (config) and {layout.state_dir} (spool and history); "
            "`linkwatch agent uninstall --purge` removes them and the "
            f"{layout.user} user, where the install created them.")


# --------------------------------------------------------------------------- helpers


def _run(command: list[str], *, check: bool = True) -> None:
    try:
        result = subprocess.run(command, check=False)
    except FileNotFoundError as e:
        raise InstallError(f"{command[0]} is not installed: {e}") from e
    if check and result.returncode != 0:
        raise InstallError(f"`{shlex.join(command)}` failed with exit status "
                           f"{result.returncode} (its messages are above)")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _under(path: Path, root: str) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _make_dir(path: Path, mode: int, *, owner: str | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if owner is not None:
        user = pwd.getpwnam(owner)
        os.chown(path, user.pw_uid, user.pw_gid)


def _remove_if_empty(path: Path) -> None:
    if not any(path.iterdir()):
        path.rmdir()
