"""InfluxDB 2.x/3.x `/api/v2/write` through influxdb-client (victoria-metrics accepts it too).

influxdb_client is imported here, when a v2 output is opened, never at agent start-up: it
costs about 0.5 s and 27 MB, which a v1-only agent should not pay. Its WriteApi runs in
SYNCHRONOUS mode: the shipper batches, retries and keeps the queue, so the library's own
batching and retry machinery stays off (`retries=False`).
"""

from __future__ import annotations

import http.client
import typing
from collections.abc import Mapping

from linkwatch.agent.config.schema import InfluxOutput
from linkwatch.agent.outputs.influx_v1 import Endpoint
from linkwatch.agent.outputs.result import Status, WriteResult, from_answer, from_exception


class V2Writer:
    """Writes to `bucket` of `org` with `token`.

    Without `bucket` the `database` name is used, as InfluxDB 2.x maps v1 databases to
    buckets of the same name by default. victoria-metrics ignores org and token.
    """

    def __init__(self, output: InfluxOutput) -> None:
        Endpoint.parse(output.url)  # the same url check and message as the v1 path
        from influxdb_client import InfluxDBClient, WritePrecision
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        self._client = InfluxDBClient(
            url=output.url,
            token=output.token.reveal() if output.token is not None else "",  # "": no header
            org=output.org or "",
            timeout=int(float(output.timeout) * 1000),
            enable_gzip=output.gzip,
            retries=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = output.bucket or output.database
        self._org = output.org or ""
        # The client's stubs type `write_precision` as WritePrecision, whose NS is a str.
        self._precision = typing.cast(WritePrecision, WritePrecision.NS)
        self._api_error = ApiException
        self._transport_error = HTTPError

    def write(self, body: bytes) -> WriteResult:
        try:
            self._api.write(
                bucket=self._bucket, org=self._org, record=body,
                write_precision=self._precision,
            )
        except self._api_error as e:
            headers: Mapping[str, str] = e.headers or {}
            return from_answer(
                int(e.status or 0), _message(e.body), headers.get("Retry-After")
            )
        except self._transport_error as e:
            # urllib3 wraps the socket error (refused, reset, timed out); classify that one.
            return from_exception(_root_cause(e, self._transport_error))
        except (OSError, http.client.HTTPException) as e:
            return from_exception(e)
        return WriteResult(Status.OK, 204)

    def close(self) -> None:
        self._client.close()


def _root_cause(error: BaseException, wrapper: type[BaseException]) -> BaseException:
    """The first error in the chain that urllib3 did not wrap, as an OSError."""
    from urllib3.exceptions import TimeoutError as WrappedTimeout

    seen = error
    while isinstance(seen, wrapper):
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    if isinstance(seen, (OSError, http.client.HTTPException)):
        return seen
    if isinstance(error, WrappedTimeout):
        return TimeoutError(str(error))
    return ConnectionError(f"{type(error).__name__}: {error}")


def _message(body: object) -> str:
    import json

    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return ""
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(decoded, dict):
        for key in ("message", "error"):
            if isinstance(value := decoded.get(key), str):
                return value
    return body.strip()
