"""The layer rules of ARCHITECTURE.md, enforced by parsing every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "cxrvlp"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{alias.name}" for alias in node.names)
    return mods


def python_files(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        if root.is_file():
            out.append(root)
        elif root.is_dir():
            out.extend(sorted(root.rglob("*.py")))
    return out


def _hits(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for f in files:
        for mod in imported_modules(f):
            if any(mod == p or mod.startswith(p + ".") for p in forbidden):
                bad.append(f"{f.relative_to(REPO) if REPO in f.parents else f} imports {mod}")
    return bad


def test_text_is_pure_python():
    files = python_files(PKG / "text")
    assert not _hits(files, ("torch", "numpy", "transformers", "streamlit", "cxrvlp.models", "cxrvlp.ui"))


def test_text_and_losses_do_not_import_models_or_ui():
    files = python_files(PKG / "text", PKG / "losses")
    assert not _hits(files, ("cxrvlp.models", "cxrvlp.ui", "cxrvlp.train", "cxrvlp.inference", "streamlit"))


def test_losses_use_torch_only():
    assert not _hits(python_files(PKG / "losses"), ("transformers", "timm", "torch_geometric", "cxrvlp.data"))


def test_streamlit_only_in_ui_app_and_pages():
    allowed = {PKG / "ui", REPO / "app.py", REPO / "pages"}
    files = [f for f in python_files(PKG) if not any(f == a or a in f.parents for a in allowed)]
    assert not _hits(files, ("streamlit",))


def test_the_checker_sees_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\nfrom streamlit import write\nfrom cxrvlp.models import create_model\n")
    hits = _hits([bad], ("torch", "streamlit", "cxrvlp.models"))
    assert {h.split(" imports ")[1].split(".")[0] for h in hits} == {"torch", "streamlit", "cxrvlp"}


@pytest.mark.parametrize("layer", ["registry.py", "types.py", "config.py"])
def test_base_layers_import_nothing_heavy(layer):
    assert not _hits([PKG / layer], ("torch", "cxrvlp.models", "cxrvlp.ui", "streamlit", "transformers"))
