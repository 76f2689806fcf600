"""The ``cxrvlp`` console script.

Each subcommand lives in its own module under :mod:`cxrvlp.commands` and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func=run`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code). Heavy imports (torch, transformers) happen inside ``run`` so
that ``cxrvlp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cxrvlp import __version__
from cxrvlp.types import UserError

# Module names under cxrvlp.commands, in the order `cxrvlp --help` lists them.
COMMANDS: tuple[str, ...] = (
    "info",
    "train",
    "preprocess",
    "label",
    "negate",
    "graph",
    "eval",
    "analysis",
    "compose",
    "probe",
)


class CLIError(UserError):
    """A user-facing error raised by a command: printed as one line, exit code 2 (see :class:`UserError`)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxrvlp",
        description="Train and probe negation-aware chest X-ray vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"cxrvlp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cxrvlp.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except Exception as e:
        if not _is_user_error(e):
            raise
        if args.verbose:
            logging.debug("traceback of the error below", exc_info=e)
        print(f"cxrvlp {args.command}: error: {e}", file=sys.stderr)
        return 2


def _is_user_error(error: Exception) -> bool:
    """Bad input or a model that cannot do what was asked (:class:`~cxrvlp.types.UserError`, a missing file):
    printed as one line (with the traceback under ``-v``). Anything else is a bug and keeps its traceback."""
    return isinstance(error, UserError | FileNotFoundError)


if __name__ == "__main__":
    # ``python -m cxrvlp.cli`` runs this file as ``__main__``, while the commands raise ``cxrvlp.cli.CLIError``
    # from the package module: run that module's ``main`` so both name the same class.
    from cxrvlp.cli import main as package_main

    sys.exit(package_main())
