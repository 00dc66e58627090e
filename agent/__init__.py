"""The linkwatch agent: config, scheduler, spool, outputs, CLI, queries and reports."""
