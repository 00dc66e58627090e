"""Outputs: InfluxDB v1 and v2 writers, the victoria-metrics writer, version detection, the
store's retention, and the delivery loop.

    stop = asyncio.Event()
    await ship(spool, output, stop=stop)   # until stop is set; see shipper.py

Nothing here imports influxdb_client; the v2 writer does, when a v2 output is opened.
"""

# Re-exported names (the `as` form marks them public for linters).
from linkwatch.agent.outputs.result import Status as Status
from linkwatch.agent.outputs.result import Writer as Writer
from linkwatch.agent.outputs.result import WriteResult as WriteResult
from linkwatch.agent.outputs.shipper import Pacing as Pacing
from linkwatch.agent.outputs.shipper import ShipperState as ShipperState
from linkwatch.agent.outputs.shipper import ship as ship
from linkwatch.agent.outputs.version import open_writer as open_writer
