"""From a config, a backend and a period to a file: gathers, renders, writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from linkwatch.agent.config.schema import Config
from linkwatch.agent.query.backend import Backend
from linkwatch.agent.query.selection import Selection
from linkwatch.agent.report.collect import build
from linkwatch.agent.report.model import Report


@dataclass(frozen=True)
class Written:
    sites: int
    has_data: bool


def render(report: Report, *, lang: str, fmt: str) -> bytes:
    from linkwatch.agent.report.i18n import Lang

    language = Lang(lang)
    if fmt == "csv":
        from linkwatch.agent.report import render_csv

        return render_csv.render(report, language)
    from linkwatch.agent.report import render_html

    return render_html.render(report, language).encode("utf-8")


def write_report(config: Config, backend: Backend, sel: Selection, *, lang: str, fmt: str,
                 out: Path) -> Written:
    """Gather the report for `sel` from `backend`, render it as `fmt` and write `out`.

    Raises QueryFailed when the backend cannot answer, RuntimeError when the PDF cannot be
    printed."""
    report = build(config, backend, sel)
    body = render(report, lang=lang, fmt="csv" if fmt == "csv" else "html")
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
