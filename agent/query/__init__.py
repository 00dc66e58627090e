"""Questions asked of the data: InfluxQL over /query, or the agent's own history."""
