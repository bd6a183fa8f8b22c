"""`python -m submit ...`, as the installed `submit` command (the inference notebook runs it this way)."""

from submit.cli import main

main()
