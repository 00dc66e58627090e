"""`linkwatch spool export`, `linkwatch spool import` and `linkwatch keys`: carrying points
out by hand, signed by the agent that collected them."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkwatch.agent.cli.options import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Duration,
    config_option,
    echo,
    load,
    open_local_spool,
    pick_output,
    pick_outputs,
)


@click.command("keys")
@config_option
def keys(config_path: Path | None) -> None:
    """Create this agent's signing key if it has none, and show its public half.

    `spool export` signs every export with the key; `spool import` on the district server
    writes only exports signed by a key its config lists for that agent (carry.trusted).
    Run it once, as the user the agent runs as; it never replaces an existing key. The key
    is carry.signing_key (default: signing.key beside the spool), mode 0600.

    \b
    Examples:
      sudo -u linkwatch linkwatch keys -c /etc/linkwatch/config.yaml
      linkwatch keys -c config.yaml      # again: shows the same public key
    """
    from linkwatch.agent.operations.signing import (
        SigningKeyError,
        create_key,
        load_key,
        public_text,
    )

    config = load(config_path, secrets=False)
    path = config.carry.signing_key
    try:
        if path.exists():
            key, what = load_key(path), "exists"
        else:
            key, what = create_key(path), "created (Ed25519, mode 0600)"
    except SigningKeyError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    public = public_text(key)
    owner = path.parent.stat().st_uid
    if what != "exists" and owner != path.stat().st_uid:
        import pwd

        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        echo(f"{path} belongs to you, not to {name} who owns its directory: "
             f"`chown {name}: {path}` so that `spool export` as {name} can sign", err=True)
    sites = sorted({config.agent.site, *(c.site for c in config.checks.all)})
    echo(f"{path}: {what}\n"
         f"public key of agent {config.agent.name}: {public}\n\n"
         "On the server that imports this agent's exports, list it in the config "
         "(compare the key by telephone, not only by e-mail):\n\n"
         "carry:\n"
         "  trusted:\n"
         f"    - {{agent: {config.agent.name}, public_key: \"{public}\", "
         f"sites: [{', '.join(sites)}]}}")


@click.command("export")
@config_option
@click.option("-o", "--file", "target", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The file to write (.tar).")
@click.option("--output", "output_name", metavar="NAME",
              help="Which output's queue (its name). Default: the first.")
@click.option("--since", help="Only points collected at or after this (24h, 2026-10-01, ISO).")
@click.option("--until", help="Only points collected before this.")
@click.option("--mark-sent", is_flag=True,
              help="Take the exported points out of the queue once the file is written.")
def export_command(config_path: Path | None, target: Path, output_name: str | None,
                   since: str | None, until: str | None, mark_sent: bool) -> None:
    """Write the points an output has not received to one signed file, to carry by hand.

    The file (mode 0600) is a tar of points.lp.gz (gzip line protocol), manifest.json
    (agent, sites, time range, point count, SHA-256) and signature.json (the manifest
    signed with this agent's key: create it once with `linkwatch keys`). Nothing is marked
    as sent unless --mark-sent.

    \b
    Examples:
      linkwatch spool export -o /media/usb/ngoc-vung.tar
      linkwatch spool export --since 2026-11-01 --until 2026-11-08 --mark-sent -o week.tar
    """
    import time

    from linkwatch.agent.operations.carry import CarryError, export
    from linkwatch.agent.operations.signing import SigningKeyError, load_key
    from linkwatch.agent.query.timerange import TimeRangeError, iso, parse_instant

    config = load(config_path, secrets=False)
    output = pick_output(config, output_name)
    now_ns = time.time_ns()
    try:
        tz = config.tz
        since_ns = None if since is None else parse_instant(since, tz=tz, now_ns=now_ns,
                                                           option="--since")
        until_ns = None if until is None else parse_instant(until, tz=tz, now_ns=now_ns,
                                                           option="--until")
    except TimeRangeError as e:
        raise click.UsageError(str(e)) from e
    try:
        key = load_key(config.carry.signing_key)
    except SigningKeyError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    spool = open_local_spool(config, read_only=not mark_sent)
    try:
        if output.queue_name not in {o.output for o in spool.stats().outputs}:
            echo(f"the spool {config.agent.spool.path} has no queue for "
                 f"{output.queue_name!r}: has the agent run with this config?", err=True)
            sys.exit(EXIT_USAGE)
        done = export(spool, output=output.queue_name, path=target, agent=config.agent.name,
                      site=config.agent.site, key=key, since_ns=since_ns, until_ns=until_ns,
                      mark_sent=mark_sent)
    except CarryError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    finally:
        spool.close()
    manifest = done.manifest
    echo(f"{target}: {manifest.points} points for {manifest.output} "
         f"({iso(manifest.first_ns)} to {iso(manifest.last_ns)}), signed, "
         f"sha256 {manifest.sha256[:16]}…"
         + ("; marked as sent" if mark_sent else "; still queued (no --mark-sent)"))
    if done.unreadable:
        echo(f"{done.unreadable} queued points could not be read back and were left in the "
             "queue", err=True)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.option("--output", "output_name", metavar="NAME",
              help="Only this output (its name). Default: every output.")
@click.option("--give-up-after", default="10m", show_default=True,
              type=Duration(0, 30 * 86400),
              help="How long to keep retrying an unreachable server (30s, 10m, 2h).")
@click.option("--unverified", is_flag=True,
              help="Also write a file that no key listed in carry.trusted signed (an export "
              "of an older linkwatch). Every line is still checked.")
@click.option("--max-size", default="8GiB", show_default=True, metavar="SIZE",
              help="Refuse a file whose points pass this size uncompressed.")
def import_command(file: Path, config_path: Path | None, output_name: str | None,
                   give_up_after: float, unverified: bool, max_size: str) -> None:
    """Check an export and write its points to the configured InfluxDB.

    Writes only a file signed by a key that carry.trusted lists for its agent, whose every
    line that agent could have written: a point linkwatch writes, with the agent's own
    `agent` tag and one of its sites, inside the manifest's time range and not in the
    future. Anything else is refused with the line number, and nothing is sent (exit 2).
    Every import, refused or not, is recorded in carry.journal. Uses the agent's own
    batching and retries; importing the same file twice changes nothing.

    \b
    Examples:
      linkwatch spool import /media/usb/ngoc-vung.tar -c /etc/linkwatch/config.yaml
      linkwatch spool import old-box.tar --unverified     # unsigned: on your word only
    """
    import time

    from linkwatch.agent.config.units import UnitError, parse_size
    from linkwatch.agent.operations.carry import CarryError
    from linkwatch.agent.operations.carry_reader import checked_export
    from linkwatch.agent.operations.import_journal import (
        ImportRecord,
        JournalError,
        file_digest,
        open_journal,
        record,
    )
    from linkwatch.agent.query.timerange import iso

    try:
        limit = int(parse_size(max_size))
    except UnitError as e:
        raise click.UsageError(f"--max-size: expected {e.expected}, got {max_size!r}") from e
    config = load(config_path)
    outputs = pick_outputs(config, output_name)
    model = _data_model(config)
    try:
        journal = open_journal(config.carry.journal)
    except JournalError as e:
        echo(str(e), err=True)
        sys.exit(EXIT_USAGE)
    entry = ImportRecord(file=str(file.absolute()), file_sha256=file_digest(file))
    status = EXIT_OK
    with journal:
        try:
            with checked_export(file, trusted=config.carry.trusted, now_ns=time.time_ns(),
                                allow_unverified=unverified, max_bytes=limit,
                                model=model) as checked:
                m = checked.manifest
                entry.agent, entry.site, entry.points = m.agent, m.site, m.points
                entry.signed_by, entry.verified = checked.signed_by, checked.signer is not None
                echo(f"{file}: {m.points} points from agent {m.agent} (sites "
                     f"{', '.join(m.sites)}), {iso(m.first_ns)} to {iso(m.last_ns)}")
                if checked.signer is not None:
                    echo(f"signed by {m.agent}'s key {checked.signed_by} (carry.trusted in "
                         f"{config.source}); every line checked")
                else:
                    echo(f"UNVERIFIED: no key listed for agent {m.agent} signed this file; "
                         "its lines were checked, but who wrote them is on your word only",
                         err=True)
                status = _deliver_all(checked, outputs, give_up_after, entry)
        except CarryError as e:
            entry.reason = str(e)
            record(journal, entry)
            echo(str(e), err=True)
            sys.exit(EXIT_USAGE)
        record(journal, entry)
    sys.exit(status)


def _data_model(config):
    """The measurements an imported line may hold: linkwatch's, with the device profiles
    this config knows (the shipped ones and agent.snmp_profiles)."""
    from linkwatch.agent.datamodel.model import measurements
    from linkwatch.collector.snmp.profiles import ProfilesInvalid, load_catalog

    try:
        return measurements(load_catalog(config.agent.snmp_profiles))
    except ProfilesInvalid as e:
        echo(f"the device profiles cannot be read, so imported lines cannot be checked:\n{e}",
             err=True)
        sys.exit(EXIT_USAGE)


def _deliver_all(checked, outputs, give_up_after: float, entry) -> int:
    """Send the checked points to each output; the exit status."""
    import asyncio

    from linkwatch.agent.operations.carry import deliver

    failed = False
    for output in outputs:
        result = asyncio.run(deliver(checked.points, checked.manifest, output,
                                     give_up_after=give_up_after))
        entry.written[output.queue_name] = result.delivered
        line = (f"{output.queue_name}: {result.delivered} of {result.points} points written "
                f"in {result.seconds:.1f}s")
        if result.dead_letters:
            line += f", {len(result.dead_letters)} refused by the server"
            for text, message in result.dead_letters[:5]:
                line += f"\n  refused: {message}: {text[:120].decode(errors='replace')}"
        echo(line)
        if not result.complete:
            failed = True
            echo(f"{output.queue_name}: stopped: {result.error}. Run the same command again "
                 "when it is fixed: points already written are rewritten with the same "
                 "values.", err=True)
    entry.result = "incomplete" if failed else "written"
    return EXIT_UNREACHABLE if failed else EXIT_OK
