"""`cxrvlp label`, `cxrvlp negate`, `cxrvlp graph` (driven through their own register/run)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from cxrvlp.cli import CLIError
from cxrvlp.commands import graph, label, negate


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cxrvlp")
    sub = parser.add_subparsers(dest="command")
    for module in (label, negate, graph):
        module.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_label_csv_to_csv(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text('study,report\ns1,"No pneumothorax. Mild cardiomegaly."\ns2,Clear lungs.\n', encoding="utf-8")
    out = tmp_path / "labels.csv"
    assert run(["label", str(src), "--id-column", "study", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["s1", "s2"]
    assert (rows[0]["Cardiomegaly"], rows[0]["Pneumothorax"], rows[0]["No Finding"]) == (
        "positive",
        "negative",
        "negative",
    )
    assert (rows[1]["No Finding"], rows[1]["Edema"]) == ("positive", "")


def test_label_txt_and_jsonl_to_jsonl(tmp_path: Path) -> None:
    txt = tmp_path / "r.txt"
    txt.write_text("Small left effusion.\n\nNo edema.\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert run(["label", str(txt), "-o", str(out)]) == 0
    recs = [json.loads(ln) for ln in out.read_text(encoding="utf-8").splitlines()]
    assert [r["labels"].get("Pleural Effusion") for r in recs] == ["positive", None]
    assert recs[0]["evidence"]["Pleural Effusion"] == [[11, 19]]  # "effusion"
    jl = tmp_path / "r.jsonl"
    jl.write_text(json.dumps({"text": "Possible pneumonia."}) + "\n", encoding="utf-8")
    assert run(["label", str(jl), "-o", str(out), "--clean"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["labels"]["Pneumonia"] == "uncertain"


def test_label_errors(tmp_path: Path) -> None:
    bad = tmp_path / "r.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CLIError, match="no report column"):
        run(["label", str(bad)])
    with pytest.raises(CLIError, match="unsupported input"):
        (tmp_path / "r.xml").write_text("x", encoding="utf-8")
        run(["label", str(tmp_path / "r.xml")])
    with pytest.raises(FileNotFoundError):
        run(["label", str(tmp_path / "missing.csv")])


def test_negate_prints_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["negate", "Small right pneumothorax. Mild cardiomegaly.", "--finding", "Pneumothorax"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["omitted"] == "Mild cardiomegaly."
    assert result["labels"]["negated"]["Pneumothorax"] == "negative"
    assert result["labels"]["omitted"]["Cardiomegaly"] == "positive"
    assert result["finding_in_report"] == "positive"
    assert run(["negate", "Endotracheal tube in place. No pneumothorax.", "--finding", "Support Devices"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "endotracheal tube" in result["negated"].lower() and result["omitted"] == "No pneumothorax."
    assert run(["negate", "Mild cardiomegaly.", "--finding", "Edema"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["finding_in_report"] == "not mentioned"
    assert "hard negative only for a positive finding" in captured.err
    with pytest.raises(ValueError, match="valid names"):
        run(["negate", "x", "--finding", "Effusion"])


def test_graph_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.txt"
    f.write_text("Opacity in the left lower lobe.", encoding="utf-8")
    assert run(["graph", "--file", str(f)]) == 0
    g = json.loads(capsys.readouterr().out)
    assert [n["text"] for n in g["nodes"]] == ["opacity", "left lower lobe"]
    assert g["edges"] == [{"src": 0, "dst": 1, "relation": "located_at"}]
