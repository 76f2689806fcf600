"""Subcommands of the ``cxrvlp`` console script, one module each (see :mod:`cxrvlp.cli`)."""
