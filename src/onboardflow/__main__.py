"""`python -m onboardflow` runs the command line."""

from onboardflow.cli.main import app

app()
