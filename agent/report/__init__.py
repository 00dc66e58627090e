"""The planners' report: availability, bandwidth and quality gaps per site, in Vietnamese and
English, as one self-contained HTML file, a PDF, or CSV tables (docs/report.md).

The figures come from the query layer (agent.query): the same definitions and numbers as
`linkwatch uptime|outages|bandwidth`. What the report adds (utilisation by hour × day,
hours above the thresholds in office hours, loss while up) is in agent.report.extra.
"""
