"""``cxrvlp info``: version, torch, CUDA, and which presets load offline."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, CUDA availability and which model presets can load offline")
    p.add_argument("--no-check", action="store_true", help="skip trying to build each preset")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from cxrvlp import __version__
    from cxrvlp.models import create_model, list_presets

    print(f"cxrvlp       {__version__}")
    print(f"python       {platform.python_version()}")
    print(f"torch        {torch.__version__}")
    cuda = torch.cuda.is_available()
    print(f"cuda         {'yes: ' + torch.cuda.get_device_name(0) if cuda else 'no (CPU only)'}")
    if args.no_check:
        print(f"presets      {', '.join(list_presets())}")
        return 0
    print("presets:")
    for name in list_presets():
        try:
            create_model(name)
            status = "loads offline"
        except Exception as e:  # report, do not crash: this is a diagnostic command
            status = f"unavailable: {str(e).splitlines()[0]}"
        print(f"  {name:<8} {status}")
    return 0
