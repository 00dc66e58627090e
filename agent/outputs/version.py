"""Which API an output speaks: `version: 1`, `2`, or `auto` (asked of the server's /ping).

The rule for `auto`, from what the servers really answer to `GET /ping`:

    X-Influxdb-Version: 1.x        InfluxDB 1.x               → v1 /write
    X-Influxdb-Version: 2.x, v2.x  InfluxDB 2.x (OSS, Cloud)  → v2 /api/v2/write
    X-Influxdb-Version: 3.x        InfluxDB 3                 → v2 /api/v2/write
    no such header                 victoria-metrics (its /ping answers 204 with only
                                   X-Server-Hostname), or a proxy → v1 /write, which
                                   victoria-metrics and the v1-compatible API of 2.x accept

A v2 server with no `bucket` in the config is written through its v1-compatible /write with
`database` (InfluxDB 2.x maps databases to buckets). Detection happens on the first send, not
at start-up, and is tried again on every send until the server answers.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading

from linkwatch.agent.config.schema import InfluxOutput, Output, VictoriaOutput
from linkwatch.agent.outputs.influx_v1 import Connection, Endpoint, V1Writer, auth_headers
from linkwatch.agent.outputs.result import Status, Writer, WriteResult, from_exception

log = logging.getLogger("linkwatch.outputs")

_MAJOR = re.compile(r"v?(\d+)\.")


def version_from_header(value: str | None) -> str:
    """"1" or "2" for an X-Influxdb-Version header (absent: "1", see the module's rule)."""
    match = _MAJOR.match((value or "").strip())
    if match is None:
        return "1"
    return "1" if int(match.group(1)) <= 1 else "2"


def detect(output: InfluxOutput) -> tuple[str, str | None]:
    """The API version and the raw version header, from `GET {url}/ping`.

    Raises OSError or http.client.HTTPException when the server does not answer.
    """
    connection = Connection(Endpoint.parse(output.url), float(output.timeout))
    try:
        _status, headers, _body = connection.request("GET", "/ping", None, auth_headers(output))
    finally:
        connection.close()
    header = headers.get("X-Influxdb-Version")
    return version_from_header(header), header


def open_writer(output: Output, version: str | None = None) -> Writer:
    """A writer for the output; with `version: auto`, one that detects on first send."""
    if isinstance(output, VictoriaOutput):
        from linkwatch.agent.outputs.victoria import VictoriaWriter

        return VictoriaWriter(output)
    chosen = version or output.version
    if chosen == "auto":
        return AutoWriter(output)
    if chosen == "2":
        from linkwatch.agent.outputs.influx_v2 import V2Writer

        return V2Writer(output)
    return V1Writer(output)


class AutoWriter:
    """Asks /ping on the first write, then hands every write to the matching writer."""

    def __init__(self, output: InfluxOutput) -> None:
        self._output = output
        self._writer: Writer | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.version: str | None = None

    def write(self, body: bytes) -> WriteResult:
        writer = self._writer or self._detect()
        if isinstance(writer, WriteResult):
            return writer
        return writer.write(body)

    def _detect(self) -> Writer | WriteResult:
        try:
            version, header = detect(self._output)
        except (OSError, http.client.HTTPException) as e:
            result = from_exception(e)
            if result.status is Status.RETRY:
                return WriteResult(Status.RETRY, message=f"version check: {result.message}")
            return result
        wants_v2 = version == "2" and self._output.bucket is not None
        writer = open_writer(self._output, "2" if wants_v2 else "1")
        with self._lock:
            if self._closed:
                writer.close()
                return WriteResult(Status.RETRY, message="output closed")
            self._writer = writer
        self.version = "2" if wants_v2 else "1"
        log.info(
            "output %s: server reports version %s; writing through the v%s API",
            self._output.queue_name, header or "(none)", self.version,
        )
        return writer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            writer.close()
