"""Property tests: no exception on any input, valid offsets, determinism; the purity of cxrvlp.text."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxrvlp.text import (
    CHEXPERT_CLASSES,
    clean_report,
    clinical_vector,
    extract_graph,
    extract_sections,
    label_report,
    make_negated,
    make_omitted,
    split_sentences,
)

TEXT_PKG = Path(__file__).resolve().parents[1] / "cxrvlp" / "text"
VOCAB_WORDS = [
    "No",
    "pleural",
    "effusion",
    "or",
    "pneumothorax",
    ".",
    ",",
    "FINDINGS:",
    "IMPRESSION:",
    "XXXX",
    "heart",
    "is",
    "enlarged",
    "may",
    "represent",
    "atelectasis",
    "1.",
    "2.",
    "stable",
    "unchanged",
    "\n",
    "İ",
    "ß",
    "🫁",
    "?",
    "without",
    "but",
    "cardiomegaly",
    "cannot",
    "be",
    "excluded",
    "normal",
]
report_like = st.lists(st.sampled_from(VOCAB_WORDS), max_size=60).map(" ".join)
any_text = st.one_of(st.text(), report_like, st.text(alphabet=st.sampled_from(".,;:!?-()[]/\\'\" \n\t")))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_all(text: str) -> None:
    lr = label_report(text)
    assert set(lr.labels) <= set(CHEXPERT_CLASSES)
    assert set(lr.labels.values()) <= {"positive", "negative", "uncertain"}
    for spans in lr.evidence.values():
        assert all(0 <= a < b <= len(text) for a, b in spans)
    assert len(clinical_vector(lr.labels)) == 14 and any(clinical_vector(lr.labels))
    g = extract_graph(text)
    assert all(0 <= n.start < n.end <= len(text) for n in g.nodes)
    assert isinstance(clean_report(text), str)
    assert set(extract_sections(text)) == {"findings", "impression"}
    assert all(s.strip() for s in split_sentences(text))
    assert isinstance(make_omitted(text, "Pneumothorax"), str)
    for finding in lr.positives():
        if finding == "No Finding":
            continue
        negated = make_negated(text, finding, seed=1)
        assert label_report(negated).labels[finding] == "negative"
        assert lr.labels.get(finding) == "positive"
    for finding in [f for f in CHEXPERT_CLASSES[1:] if lr.labels.get(f) != "positive"][:2]:
        with pytest.raises(ValueError, match="asserts as positive"):
            make_negated(text, finding, seed=1, strict=True)
        assert label_report(make_negated(text, finding, seed=1)).labels[finding] == "negative"


@SETTINGS
@given(any_text)
def test_no_exception_and_valid_outputs(text: str) -> None:
    _check_all(text)


@pytest.mark.parametrize("text", ["", " ", "\n\n", ".", "...!!!???", ";;;,,,", "XXXX XXXX.", "FINDINGS:"])
def test_degenerate_inputs(text: str) -> None:
    _check_all(text)


def test_very_long_input() -> None:
    text = ("No pleural effusion or pneumothorax. Mild cardiomegaly, may represent XXXX. " * 1400)[:100_000]
    assert len(text) == 100_000
    _check_all(text)
    _check_all("a" * 100_000)
    _check_all("." * 100_000)


@SETTINGS
@given(report_like, st.integers(min_value=0, max_value=2**31), st.sampled_from(CHEXPERT_CLASSES[1:]))
def test_deterministic(text: str, seed: int, finding: str) -> None:
    assert make_negated(text, finding, seed=seed) == make_negated(text, finding, seed=seed)
    assert make_omitted(text, finding) == make_omitted(text, finding)
    assert label_report(text) == label_report(text)
    assert extract_graph(text) == extract_graph(text)
    assert clean_report(text) == clean_report(text)


def test_text_package_imports_only_stdlib_and_cxrvlp_types() -> None:
    allowed_prefixes = ("cxrvlp.text", "cxrvlp.types")
    for path in TEXT_PKG.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = name.startswith(allowed_prefixes) or (top in sys.stdlib_module_names and top != "cxrvlp")
                assert ok, f"{path.name} imports {name}"


def test_importing_text_pulls_no_heavy_module() -> None:
    code = "import sys, cxrvlp.text; bad = {'torch', 'numpy', 'streamlit'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
