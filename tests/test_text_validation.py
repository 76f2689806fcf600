"""The gold-report scorer (cxrvlp.text.validation): fakes with known answers, and the engine against the gold set.

The scorer must tell a right variant from a wrong one without asking the labeler: an oracle built from the gold
labels passes, and each way of being wrong fails exactly the criterion it breaks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxrvlp.text.validation import (
    CRITERIA,
    GoldLabel,
    GoldReport,
    GoldSentence,
    generator_cases,
    judge_case,
    load_gold,
    main,
    plain_sentences,
    score_generator,
    score_labeler,
)

GOLD = Path(__file__).parent / "data" / "gold_reports.jsonl"


def _report(*sentences: tuple[str, dict[str, tuple[str, tuple[str, ...]]]]) -> GoldReport:
    sents = tuple(GoldSentence(t, {c: GoldLabel(p, ev) for c, (p, ev) in labs.items()}) for t, labs in sentences)
    return GoldReport(0, "X", "dev", "FINDINGS: " + " ".join(t for t, _ in sentences), sents)


REP = _report(
    ("Heart size is normal.", {"Cardiomegaly": ("negative", ("Heart size",))}),
    (
        "Small right pleural effusion with adjacent atelectasis.",
        {
            "Pleural Effusion": ("positive", ("pleural effusion",)),
            "Atelectasis": ("positive", ("atelectasis",)),
        },
    ),
    (
        "No pneumothorax or consolidation.",
        {"Pneumothorax": ("negative", ("pneumothorax",)), "Consolidation": ("negative", ("consolidation",))},
    ),
    ("Right chest XXXX tip in the SVC.", {"Support Devices": ("positive", ("tip",))}),
)
RIGHT_RR = (
    "FINDINGS: Heart size is normal. Adjacent atelectasis. No pneumothorax or consolidation. "
    "Right chest XXXX tip in the SVC."
)
RIGHT_RN = RIGHT_RR.replace("Adjacent atelectasis.", "Adjacent atelectasis. No pleural effusion.")


def test_right_variant_passes_every_criterion() -> None:
    passed, why = judge_case(REP, "Pleural Effusion", RIGHT_RR, RIGHT_RN)
    assert passed == dict.fromkeys(CRITERIA, True), why


@pytest.mark.parametrize(
    ("rr", "rn", "fails"),
    [
        # the finding's sentence left in place
        (REP.text, REP.text + " No pleural effusion.", {"removed"}),
        # the finding's words kept in a rewrite
        (RIGHT_RR.replace("Adjacent atelectasis.", "Effusion with atelectasis."), None, {"removed"}),
        # another finding's sentence lost
        (RIGHT_RR.replace(" Right chest XXXX tip in the SVC.", ""), None, {"kept"}),
        # the other finding of the mixed sentence lost with it
        (RIGHT_RR.replace(" Adjacent atelectasis.", ""), None, {"mixed"}),
        # garbled rewrite
        (RIGHT_RR.replace("Adjacent atelectasis.", "There adjacent atelectasis."), None, {"mixed"}),
        (RIGHT_RR.replace("Adjacent atelectasis.", "with adjacent atelectasis."), None, {"mixed"}),
        # a negated other finding turned positive
        (
            RIGHT_RR,
            RIGHT_RN.replace("No pneumothorax or consolidation.", "Pneumothorax or consolidation."),
            {"inserted"},
        ),
        # nothing inserted / two statements inserted / an insert that does not deny the finding
        (RIGHT_RR, RIGHT_RR, {"inserted"}),
        (RIGHT_RR, RIGHT_RN + " No pneumothorax.", {"inserted"}),
        (RIGHT_RR, RIGHT_RR + " Pleural effusion.", {"inserted"}),
        (RIGHT_RR, RIGHT_RR + " No pneumonia.", {"inserted"}),
        # a denial narrower than what the report says
        (RIGHT_RR, RIGHT_RR + " No large pleural effusion.", {"inserted"}),
    ],
)
def test_each_kind_of_wrong_fails_its_criterion(rr: str, rn: str | None, fails: set[str]) -> None:
    rn = rn if rn is not None else RIGHT_RN.replace(RIGHT_RR, rr) if RIGHT_RR in RIGHT_RN else rr
    if rn == rr and "inserted" not in fails:
        rn = rr + " No pleural effusion."
    passed, _ = judge_case(REP, "Pleural Effusion", rr, rn)
    assert {c for c, ok in passed.items() if not ok} == fails


def test_device_denial_must_name_a_device() -> None:
    rr = (
        "FINDINGS: Heart size is normal. Small right pleural effusion with adjacent atelectasis. "
        "No pneumothorax or consolidation."
    )
    ok, _ = judge_case(REP, "Support Devices", rr, rr + " No central venous catheter.")
    assert ok["inserted"] and ok["removed"] and ok["kept"]
    bad, _ = judge_case(REP, "Support Devices", rr, rr + " No acute findings.")
    assert not bad["inserted"]


def test_plain_sentences_drops_headers() -> None:
    assert plain_sentences("FINDINGS: A b. C d! IMPRESSION: E.") == ["A b.", "C d!", "E."]


def _gold_oracle(gold: list[GoldReport]):
    """r^r drops every gold sentence about the finding; r^n appends 'No <head noun>.' (no rewriting of mixes)."""
    by_text = {r.text: r for r in gold}

    def omit(text: str, finding: str) -> str:
        rep = by_text[text]
        return " ".join(s.text for s in rep.sentences if finding not in s.labels)

    def negate(text: str, finding: str) -> str:
        rep = by_text[text]
        ev = next(e for s in rep.sentences if finding in s.labels for e in s.labels[finding].evidence)
        return (omit(text, finding) + f" No {ev.lower()}.").strip()

    return omit, negate


@pytest.fixture(scope="module")
def gold() -> list[GoldReport]:
    return load_gold(GOLD)


def test_gold_file_is_well_formed(gold: list[GoldReport]) -> None:
    assert len(gold) >= 200
    assert {r.split for r in gold} == {"dev", "heldout"}
    assert len({r.uid for r in gold}) == len(gold)
    assert sum(len(r.sentences) for r in gold) > 1000
    assert len(generator_cases([r for r in gold if r.split == "heldout"])) >= 50


def test_oracle_from_gold_passes_removed_kept_inserted(gold: list[GoldReport]) -> None:
    omit, negate = _gold_oracle(gold)
    score = score_generator(gold, omit, negate)
    assert score.rate("removed") == 1.0
    assert score.rate("kept") == 1.0

    # the oracle drops mixed sentences whole, so exactly the cases with a mixed sentence fail "mixed"
    def other_class_to_keep(s: GoldSentence, f: str) -> bool:
        own = {e.lower() for e in s.labels[f].evidence}
        return any(c != f and not own & {e.lower() for e in lab.evidence} for c, lab in s.labels.items())

    mixed = sum(
        any(f in s.labels and other_class_to_keep(s, f) for s in rep.sentences) for rep, f in generator_cases(gold)
    )
    assert sum(not c.passed["mixed"] for c in score.cases) == mixed


def test_identity_generator_fails(gold: list[GoldReport]) -> None:
    score = score_generator(gold, lambda t, f: t, lambda t, f: t)
    assert score.rate("removed") == 0.0
    assert score.rate("inserted") == 0.0
    per = score.per_finding()  # every case fails removed and inserted, per finding too
    assert sum(r["cases"] for r in per.values()) == score.n
    assert all(r["ok"] == 0 and r["removed"] == r["cases"] == r["inserted"] for r in per.values())


def test_labeler_score_known_answers(gold: list[GoldReport]) -> None:
    by_text = {r.text: r for r in gold}
    perfect = score_labeler(gold, lambda t: by_text[t].report_labels())
    assert perfect.macro_f1 == 1.0 and not perfect.errors
    nothing = score_labeler(gold, lambda t: {})  # says every report is normal
    assert nothing.per_class["No Finding"].recall == 1.0
    assert nothing.per_class["Cardiomegaly"].f1 == 0.0
    assert nothing.macro_f1 < 0.2


def test_load_gold_rejects_evidence_not_in_sentence(tmp_path: Path) -> None:
    row = {
        "id": 0,
        "uid": "A",
        "split": "dev",
        "text": "No effusion.",
        "sentences": [
            {
                "i": 0,
                "text": "No effusion.",
                "labels": {"Pleural Effusion": {"polarity": "negative", "evidence": ["fluid"]}},
            }
        ],
    }
    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="fluid"):
        load_gold(p)


def test_cli_prints_both_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main([str(GOLD), "--split", "dev", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "labeler report-level macro-F1" in text and "generator all four" in text
    assert "generator per finding" in text
    d = json.loads(out.read_text())
    assert d["split"] == "dev" and 0.0 <= d["generator"]["all"] <= 1.0
    per = d["generator_per_finding"]
    assert sum(r["cases"] for r in per.values()) == d["generator_cases"]
    assert sum(r["ok"] for r in per.values()) == round(d["generator"]["all"] * d["generator_cases"])
