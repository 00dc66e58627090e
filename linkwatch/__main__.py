"""`python -m linkwatch`: the same command as the `linkwatch` console script.

`linkwatch` is a namespace package: the repository keeps its two folders, `agent/` and
`collector/`, and installs them as `linkwatch.agent` and `linkwatch.collector` (setup.cfg's
package_dir), so nothing named plain `agent` or `collector` lands in site-packages. Having
no __init__.py, this folder never hides an installed copy when the checkout is on sys.path.
"""

from linkwatch.agent.cli import main

main()
