"""Alerts: rules evaluated at the edge on the agent's own samples, as they are committed,
and messages delivered from a durable outbox in the spool (contract: docs/alerts.md).

    engine = Engine(config, spool, wake=dispatcher.wake)   # evaluate.py
    engine.start()                        # the spool's records, a replay of recent history
    engine.observe(samples)               # after each commit of the agent's samples
    await dispatcher.run(stop)            # outbox.py: one task per channel

Modules: event.py (what an alert is and says, as data), rules.py (each subject's settings
and each channel's routing), state.py (the state machine: runs from agent.query.states,
outages from agent.query.availability, suppression, flapping), maintenance.py, evaluate.py
(the engine), outbox.py (delivery, digests), messages.py (the words, vi and en),
channels/ (one module per channel), watcher.py (agent_silent on the central store),
history.py (`linkwatch alerts`).
"""
