"""linkwatch: a network and infrastructure monitoring agent for a district's links.

The repository keeps two folders, `agent/` and `collector/`; they are installed as the
packages `linkwatch.agent` and `linkwatch.collector` (setup.cfg's package_dir), so nothing
named plain `agent` or `collector` lands in site-packages.
"""
