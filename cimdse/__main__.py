"""`python -m cimdse` runs the command-line interface."""

from .cli import main

main()
