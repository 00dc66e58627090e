"""The running agent: opens the configured checks, schedules them, commits their samples to
the spool, ships the spool to the outputs, and talks to systemd (signals, sd_notify, logs)."""
