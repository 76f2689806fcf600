"""Open-I report loader: XML parsing, directory/tgz input, the packaged corpus, no torch import."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cxrvlp.data.openi import OpenIReport, default_archive, load_openi_reports, parse_report_xml

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR42"/>
<MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">XXXX yr old with cough</AbstractText>
<AbstractText Label="FINDINGS">Heart size is   normal. No pneumothorax.</AbstractText>
<AbstractText Label="IMPRESSION"/>
</Abstract></Article></MedlineCitation>
<MeSH><major>Cardiomegaly/mild</major><automatic>Opacity</automatic></MeSH>
<parentImage id="CXR42_IM-1-1001"/><parentImage id="CXR42_IM-1-2001"/>
</eCitation>"""


@pytest.fixture(scope="module")
def openi_reports() -> list[OpenIReport]:
    """The packaged corpus (inside the torchxrayvision wheel, a declared dependency)."""
    return load_openi_reports()


def test_parse_report_xml_fields() -> None:
    r = parse_report_xml(XML)
    assert r == OpenIReport(
        uid="CXR42",
        image_ids=("CXR42_IM-1-1001", "CXR42_IM-1-2001"),
        indication="XXXX yr old with cough",
        comparison="None.",
        findings="Heart size is normal. No pneumothorax.",
        impression="",
        mesh=("Cardiomegaly/mild", "Opacity"),
    )
    assert r.text == "FINDINGS: Heart size is normal. No pneumothorax."


def test_text_with_both_sections_and_none() -> None:
    r = OpenIReport("CXR1", (), "", "", "A.", "B.", ())
    assert r.text == "FINDINGS: A. IMPRESSION: B."
    assert OpenIReport("CXR2", (), "", "", "", "", ()).text == ""


def test_load_from_directory_and_tgz_sorted_by_numeric_uid(tmp_path: Path) -> None:
    d = tmp_path / "xml"
    d.mkdir()
    for uid in (10, 2, 1):
        (d / f"{uid}.xml").write_text(XML.replace("CXR42", f"CXR{uid}"), encoding="utf-8")
    assert [r.uid for r in load_openi_reports(d)] == ["CXR1", "CXR2", "CXR10"]
    tgz = tmp_path / "r.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(d, arcname="ecgen-radiology")
    assert [r.uid for r in load_openi_reports(tgz)] == ["CXR1", "CXR2", "CXR10"]


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_openi_reports(tmp_path / "nope.tgz")


def test_env_var_pointing_nowhere_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXRVLP_OPENI_REPORTS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="CXRVLP_OPENI_REPORTS"):
        default_archive()


def test_packaged_corpus(openi_reports: list[OpenIReport]) -> None:
    assert len(openi_reports) == 3955
    assert len({r.uid for r in openi_reports}) == 3955
    assert openi_reports[0].uid == "CXR1"
    assert sum(bool(r.findings or r.impression) for r in openi_reports) > 3900
    assert load_openi_reports() is not load_openi_reports()  # a fresh list each call, the parse is cached


def test_loader_does_not_import_torch() -> None:
    code = "import sys, cxrvlp.data.openi, cxrvlp.data; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
