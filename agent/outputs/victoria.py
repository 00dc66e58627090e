"""VictoriaMetrics: line protocol to a single node's `/write`, or to a cluster's vminsert at
`/insert/<tenant>/influx/write`; the same keep-alive writer as InfluxDB 1.x.

No `db` query argument is sent: victoria-metrics would add it to every series as a `db`
label. Timestamps stay in nanoseconds (`precision=ns` is the default); the server keeps
milliseconds.

victoria-metrics answers 204 even for a line it cannot parse (it skips it and says so in
its own log), so a 400 never means "something in the batch": it comes from a path the
server does not serve (a wrong url or tenant) or from vmauth refusing the credentials. It
is treated as needing an admin (fatal: keep spooling, ask again slowly), never as a reason
to split the batch and set its points aside.
"""

from __future__ import annotations

from linkwatch.agent.config.schema import VictoriaOutput
from linkwatch.agent.outputs.influx_v1 import LineWriter, basic_auth
from linkwatch.agent.outputs.result import Status, WriteResult


class VictoriaWriter(LineWriter):
    def __init__(self, output: VictoriaOutput) -> None:
        base = output.url if output.url is not None else output.insert_url or ""
        path = "/write" if output.url is not None else f"/insert/{output.tenant}/influx/write"
        super().__init__(base, path, auth_headers(output), gzip=output.gzip,
                         timeout=float(output.timeout))

    def write(self, body: bytes) -> WriteResult:
        result = super().write(body)
        if result.http_status == 400:
            return WriteResult(Status.FATAL, 400, message=result.message)
        return result


def auth_headers(output: VictoriaOutput) -> dict[str, str]:
    """Bearer token or basic auth (vmauth, -httpAuth.*), as a header, never in the url."""
    if output.token is not None:
        return {"Authorization": f"Bearer {output.token.reveal()}"}
    if output.username is not None:
        return basic_auth(output.username, output.password)
    return {}
