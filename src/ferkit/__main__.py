"""``python -m ferkit``: the same as the ``fer`` command."""

from ferkit.cli import main

main()
