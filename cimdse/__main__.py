"""`python -m cimdse` runs the command-line interface."""

from .cli import run

run()
