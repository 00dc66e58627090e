"""`python -m linkwatch`: the same command as the `linkwatch` console script."""

from linkwatch.agent.cli import main

main()
