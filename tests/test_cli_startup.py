"""``cxrvlp --help`` and parsing any command import nothing heavy: torch & co. load inside a command's ``run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "streamlit", "timm", "numpy", "pandas", "PIL", "torch_geometric", "captum")


def _imported_by(code: str) -> list[str]:
    """Every module in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    code += "\nimport json, sys\nprint('MODULES=' + json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.rsplit("MODULES=", 1)[1])


def test_help_imports_nothing_heavy():
    mods = _imported_by("from cxrvlp.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n")
    assert "cxrvlp.commands.eval" in mods  # every command's parser was built
    assert not [m for m in mods if m.split(".")[0] in HEAVY]


def test_parsing_every_command_imports_nothing_heavy():
    code = (
        "import sys\nfrom cxrvlp.cli import build_parser\np = build_parser()\n"
        "p.parse_args(['info', '--no-check']); p.parse_args(['eval', '--model', 'demo', '--data', 'm.csv'])\n"
    )
    mods = _imported_by(code)
    assert "cxrvlp.cli" in mods and not [m for m in mods if m.split(".")[0] in HEAVY]


def test_info_imports_torch_but_no_model_library():
    """``cxrvlp info --no-check`` reports torch and CUDA, so it needs torch; the towers' libraries load only when a
    preset is built."""
    mods = _imported_by("from cxrvlp.cli import main\nmain(['info', '--no-check'])\n")
    assert "torch" in mods and "cxrvlp.commands.info" in mods
    heavy = ("transformers", "timm", "streamlit", "plotly", "torch_geometric", "captum")
    assert not [m for m in mods if m.split(".")[0] in heavy]
