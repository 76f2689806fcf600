"""The layer rules of ARCHITECTURE.md, enforced by parsing every import (module level, inside functions, under
``TYPE_CHECKING``, relative ones resolved), and no import cycles between our modules."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "cxrvlp"

BASE = "base"
LAYER_OF_TOP: dict[str, str] = {
    "__init__": BASE,
    "types": BASE,
    "registry": BASE,
    "config": BASE,
    "text": "text",
    "losses": "losses",
    "data": "data",
    "models": "models",
    "runtime": "runtime",
    "train": "train",
    "eval": "eval",
    "analysis": "analysis",
    "inference": "inference",
    "ui": "ui",
    "commands": "cli",
    "cli": "cli",
    "__main__": "cli",
}
"""``cxrvlp.<top>`` -> its layer."""

_LIBRARY = {BASE, "text", "losses", "data", "models", "runtime"}
ALLOWED: dict[str, set[str]] = {
    BASE: {BASE},
    "text": {BASE, "text"},
    "losses": {BASE, "losses"},
    "data": {BASE, "text", "data"},
    "runtime": {BASE, "runtime"},
    "models": {BASE, "text", "data", "runtime", "models"},
    "train": _LIBRARY | {"train", "eval", "analysis"},
    "eval": _LIBRARY | {"train", "eval", "analysis"},
    "analysis": _LIBRARY | {"train", "eval", "analysis"},
    "inference": _LIBRARY | {"train", "eval", "analysis", "inference"},
    "ui": _LIBRARY | {"train", "eval", "analysis", "inference", "ui"},
    "cli": _LIBRARY | {"train", "eval", "analysis", "inference", "cli"},
}
"""Layer -> the layers it may import (ARCHITECTURE.md's arrows; ``ui`` is imported by app.py and pages/ only)."""


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = REPO) -> list[str]:
    """Every module ``path`` imports, absolute; ``from a import b`` yields ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".") if root in path.parents else []
    if path.name != "__init__.py":
        package = package[:-1]
    mods: list[str] = []
    for node in ast.walk(tree):  # every node: imports inside functions and TYPE_CHECKING blocks too
        if isinstance(node, ast.Import):
            mods.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            mods.append(module)
            mods.extend(f"{module}.{alias.name}" for alias in node.names)
    return mods


def imported_modules(path: Path) -> set[str]:
    return set(imports_of(path))


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
    return sorted(set(bad))


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "cxrvlp":
        return None
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in LAYER_OF_TOP:
        return BASE if top.startswith("__") else "unknown"  # `from cxrvlp import __version__`; a new top module
    return LAYER_OF_TOP[top]


def internal_graph(root: Path, package: str = "cxrvlp") -> dict[str, set[str]]:
    """Module -> the package modules it imports (a module's own parent packages are left out: Python loads them
    first by itself; ``from pkg import sub`` counts as importing ``pkg.sub`` when ``sub`` is a module)."""
    files = {module_name(p, root): p for p in python_files(root / package)}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            ancestors.add(name)
        targets = set()
        for mod in imports_of(path, root):
            while mod not in files and "." in mod:
                mod = mod.rsplit(".", 1)[0]
            if mod in files and mod != name and mod not in ancestors:
                targets.add(mod)
        # `from pkg import sub` also names `pkg`: drop it when a submodule of it was the target
        graph[name] = {t for t in targets if not any(u.startswith(t + ".") for u in targets if u in files)}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_violations(files: Iterable[Path], root: Path = REPO) -> list[str]:
    bad = []
    for f in files:
        src = layer_of(module_name(f, root))
        for mod in imports_of(f, root):
            dst = layer_of(mod)
            if src is None or dst is None:
                continue
            if src == "unknown" or dst == "unknown" or dst not in ALLOWED[src]:
                bad.append(f"{f.relative_to(root)} ({src}) imports {mod} ({dst})")
    return sorted(set(bad))


# ------------------------------------------------------------------------------------------------ the rules


def test_every_layer_imports_only_what_its_arrows_allow():
    assert not layer_violations(python_files(PKG))


def test_no_import_cycles():
    assert not find_cycles(internal_graph(REPO))


def test_text_is_pure_python():
    files = python_files(PKG / "text")
    assert not _hits(files, ("torch", "numpy", "transformers", "streamlit", "cxrvlp.models", "cxrvlp.ui"))


def test_text_and_losses_do_not_import_models_or_ui():
    files = python_files(PKG / "text", PKG / "losses")
    assert not _hits(files, ("cxrvlp.models", "cxrvlp.ui", "cxrvlp.train", "cxrvlp.inference", "streamlit"))


def test_losses_use_torch_only():
    assert not _hits(python_files(PKG / "losses"), ("transformers", "timm", "torch_geometric", "cxrvlp.data"))


def test_data_never_imports_models_and_train_eval_analysis_never_inference():
    assert not _hits(python_files(PKG / "data"), ("cxrvlp.models", "transformers", "timm"))
    files = python_files(PKG / "train", PKG / "eval", PKG / "analysis")
    assert not _hits(files, ("cxrvlp.inference", "cxrvlp.ui", "cxrvlp.commands", "cxrvlp.cli"))


def test_analyses_are_typed_against_the_clip_model_protocol_not_cxrclip():
    files = python_files(PKG / "analysis", PKG / "inference.py")
    assert not _hits(files, ("cxrvlp.models.CXRClip", "cxrvlp.models.clip", "cxrvlp.models.clip.CXRClip"))


def test_streamlit_only_in_ui_app_and_pages():
    allowed = {PKG / "ui", REPO / "app.py", REPO / "pages"}
    files = [f for f in python_files(PKG) if not any(f == a or a in f.parents for a in allowed)]
    assert not _hits(files, ("streamlit",))


def ui_modules_without_streamlit(root: Path = PKG / "ui") -> list[str]:
    """Modules of ``ui/`` (package ``__init__`` files aside) that import no Streamlit: library code in the wrong
    layer (run processes belong in ``train/``, probe tables in ``analysis/``, comparison tables in ``eval/``)."""
    return sorted(
        str(f.relative_to(root.parent.parent))
        for f in python_files(root)
        if f.name != "__init__.py"
        and not any(m == "streamlit" or m.startswith("streamlit.") for m in imported_modules(f))
    )


def test_ui_holds_only_streamlit_code():
    assert not ui_modules_without_streamlit()


@pytest.mark.parametrize("layer", ["registry.py", "types.py", "config.py", "__init__.py"])
def test_base_layers_import_nothing_heavy(layer):
    assert not _hits([PKG / layer], ("torch", "numpy", "cxrvlp.models", "cxrvlp.ui", "streamlit", "transformers"))


# ------------------------------------------------------------------------------- the checker sees violations


def test_the_checker_sees_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch.nn as nn\nfrom streamlit import write\nfrom cxrvlp.models import create_model\n")
    hits = _hits([bad], ("torch", "streamlit", "cxrvlp.models"))
    assert {h.split(" imports ")[1].split(".")[0] for h in hits} == {"torch", "streamlit", "cxrvlp"}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_the_checker_sees_function_level_relative_and_type_checking_imports(tmp_path):
    root = _tree(
        tmp_path,
        {
            "cxrvlp/__init__.py": "",
            "cxrvlp/data/__init__.py": "",
            "cxrvlp/data/collate.py": "def f():\n    from ..models.text import tokenize\n",
            "cxrvlp/eval/__init__.py": "",
            "cxrvlp/eval/x.py": "import typing\nif typing.TYPE_CHECKING:\n    from cxrvlp.inference import P\n",
            "cxrvlp/text/__init__.py": "",
            "cxrvlp/text/y.py": "from . import z\nfrom .z import w\n",
            "cxrvlp/text/z.py": "",
        },
    )
    assert "cxrvlp.models.text" in imports_of(root / "cxrvlp/data/collate.py", root)
    assert {"cxrvlp.text.z", "cxrvlp.text.z.w"} <= set(imports_of(root / "cxrvlp/text/y.py", root))
    bad = layer_violations(python_files(root / "cxrvlp"), root)
    assert bad == [
        "cxrvlp/data/collate.py (data) imports cxrvlp.models.text (models)",
        "cxrvlp/data/collate.py (data) imports cxrvlp.models.text.tokenize (models)",
        "cxrvlp/eval/x.py (eval) imports cxrvlp.inference (inference)",
        "cxrvlp/eval/x.py (eval) imports cxrvlp.inference.P (inference)",
    ]


def test_the_checker_sees_a_ui_module_without_streamlit(tmp_path):
    root = _tree(
        tmp_path,
        {
            "cxrvlp/ui/__init__.py": "",
            "cxrvlp/ui/widgets.py": "import streamlit as st\n",
            "cxrvlp/ui/cache.py": "def f():\n    from streamlit import cache_resource\n",
            "cxrvlp/ui/tables.py": "import pandas as pd\nfrom cxrvlp.eval import EvalResult\n",
        },
    )
    assert ui_modules_without_streamlit(root / "cxrvlp" / "ui") == ["cxrvlp/ui/tables.py"]


def test_the_checker_finds_cycles_but_not_package_inits(tmp_path):
    root = _tree(
        tmp_path,
        {
            "cxrvlp/__init__.py": "",
            "cxrvlp/models/__init__.py": "from cxrvlp.models.clip import Clip\n",
            "cxrvlp/models/clip.py": "from cxrvlp.models import weights\ndef load():\n    from .delta import d\n",
            "cxrvlp/models/delta.py": "from cxrvlp.models.factory import make\n",
            "cxrvlp/models/factory.py": "from cxrvlp.models.clip import Clip\n",
            "cxrvlp/models/weights.py": "",
        },
    )
    graph = internal_graph(root)
    assert graph["cxrvlp.models.clip"] == {"cxrvlp.models.weights", "cxrvlp.models.delta"}
    assert find_cycles(graph) == [["cxrvlp.models.clip", "cxrvlp.models.delta", "cxrvlp.models.factory"]]
    (root / "cxrvlp/models/clip.py").write_text("from cxrvlp.models import weights\n")
    assert find_cycles(internal_graph(root)) == []
