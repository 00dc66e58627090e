"""Questions asked of the data: InfluxQL over /query, MetricsQL over victoria-metrics' query
API, or the agent's own history; the same answers from each (agent.query.backend)."""
