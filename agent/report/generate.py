"""From a config and a period to a file: picks the backend, gathers, renders, writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkwatch.agent.config.schema import Config
from linkwatch.agent.query.selection import Selection


class Unreachable(RuntimeError):
    """InfluxDB could not be asked."""


@dataclass(frozen=True)
class Written:
    sites: int
    has_data: bool


def gather(config: Config, sel: Selection, *, local: bool):
    """The Report for `sel`, from InfluxDB (the first output) or the local history."""
    from linkwatch.agent.query.timerange import zone
    from linkwatch.agent.report.collect import build

    tz = zone(config.agent.timezone)
    if tz is None:
        import datetime as dt

        tz = dt.datetime.now().astimezone().tzinfo
    if local:
        from linkwatch.agent.cli.options import open_spool
        from linkwatch.agent.query.local import LocalBackend

        spool = open_spool(config)
        try:
            return build(config, LocalBackend(spool), sel, tz=tz)
        finally:
            spool.close()
    if not config.outputs:
        raise RuntimeError("no output is configured: use --local to read the spool")
    from linkwatch.agent.query.influx import InfluxBackend
    from linkwatch.agent.query.influxql import BackendUnreachable

    try:
        return build(config, InfluxBackend(config.outputs[0]), sel, tz=tz)
    except BackendUnreachable as e:
        raise Unreachable(f"cannot reach InfluxDB: {e}") from e


def render(report, *, lang: str, fmt: str) -> bytes:
    from linkwatch.agent.report.i18n import Lang

    language = Lang(lang)
    if fmt == "csv":
        from linkwatch.agent.report import render_csv

        return render_csv.render(report, language)
    from linkwatch.agent.report import render_html

    return render_html.render(report, language).encode("utf-8")


def write_report(config: Config, sel: Selection, *, lang: str, fmt: str, out: Path,
                 local: bool) -> Written:
    report = gather(config, sel, local=local)
    body = render(report, lang=lang, fmt="csv" if fmt == "csv" else "html")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        from linkwatch.agent.report import render_pdf

        try:
            render_pdf.render(body.decode("utf-8"), out)
        except render_pdf.PdfUnavailable as e:
            raise RuntimeError(str(e)) from e
    else:
        out.write_bytes(body)
    has_data = any(s.uptime is not None and s.uptime.samples for s in report.sites)
    return Written(len(report.sites), has_data)
