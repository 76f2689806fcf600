"""Score the labeler and the r^r / r^n generator against hand-labelled real reports (pure Python).

The gold set (``tests/data/gold_reports.jsonl``, conventions in ``tests/data/gold_reports/CONVENTIONS.md``) holds
real Open-I reports labelled sentence by sentence by reading them, each label with the exact words that name the
finding (``evidence``). Everything here judges the code under test with those gold labels and a few plain string
rules of its own; it never calls the labeler to decide whether a variant is right (that would be circular).

Labeler: report-level precision / recall / F1 per class, present = positive or uncertain (a class is present in a
report when any gold sentence asserts or hedges it; "No Finding" is derived with CheXpert's rule).

Generator: one case per (report, finding) with the finding gold-**positive** in the report. With r^r =
``omit(report, finding)`` and r^n = ``negate(report, finding)``, four criteria:

- **removed**: no gold sentence that asserts or hedges the finding survives in r^r, and no rewritten piece of r^r
  still contains the words that named it;
- **kept**: every gold sentence that does not talk about the finding survives in r^r unchanged;
- **mixed**: in a gold sentence about the finding and another class, the other class's words survive in a
  rewritten piece, with its negation (a negated class stays negated, an asserted one is not negated), as a
  well-formed statement (capitalised, ends with a full stop, no dangling "There mild ..." or leading "and");
- **inserted**: the sentences of r^n are those of r^r plus exactly one new one, which denies the finding (a
  negation word and a word naming the finding as the report states it: its own head noun, or a class term that
  covers every subtype), without a narrowing qualifier the report does not use ("No acute fracture." does not
  deny a healed fracture; "No focal airspace opacity." does not deny interstitial opacities).

Command: ``python -m cxrvlp.text.validation tests/data/gold_reports.jsonl [--split dev|heldout] [--failures N]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cxrvlp.types import CHEXPERT_CLASSES, UserError

FINDINGS: tuple[str, ...] = tuple(c for c in CHEXPERT_CLASSES if c != "No Finding")
POLARITIES = ("positive", "negative", "uncertain")
CRITERIA = ("removed", "kept", "mixed", "inserted")

_HEADER = re.compile(r"\b[A-Z][A-Z ]{2,}:\s*")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
_NEGATION = re.compile(
    r"\b(?:no|not|without|negative for|free of|resolved|removed|removal of|absence of|absent)\b", re.I
)
_NORMAL = re.compile(r"\b(?:normal|within normal limits|unremarkable|not enlarged)\b", re.I)
"""Size words that deny an enlargement wherever they stand ("Heart size is normal.")."""
_BAD_START = re.compile(r"^(?:and|or|with|of|but|which|that|to|in|on|at)\b", re.I)
_NOISE = re.compile(r"^[\W\d]*$")  # "1.", ".", "2)": list numbers and stray punctuation are not statements
_BAD_THERE = re.compile(r"^There\s+(?!is\b|are\b|was\b|were\b|has\b|have\b|may\b|might\b|appears?\b|remains?\b)", re.I)
_DOUBLE = re.compile(r"\b(?!XXXX\b)(\w+)\s+\1\b|,\s*[.,]|\s[.,]$|\(\s*\)")  # "XXXX XXXX" is anonymisation

NARROWING = ("acute", "focal", "airspace", "displaced", "large", "new", "definite", "significant", "gross", "frank")
"""Qualifiers that narrow a denial: a new statement may use one only when the report's own sentences do."""

COVERING: Mapping[str, str] = {
    "Enlarged Cardiomediastinum": r"mediastin",
    "Cardiomegaly": r"cardiomegaly|\bheart\b|cardiac",
    "Lung Opacity": r"opacit",
    "Lung Lesion": r"lesion|(?=.*nodul)(?=.*mass)",
    "Edema": r"edema|congestion|vascular",
    "Consolidation": r"consolidat",
    "Pneumonia": r"pneumonia",
    "Atelectasis": r"atelecta",
    "Pneumothorax": r"pneumothora",
    "Pleural Effusion": r"effusion|pleural fluid",
    "Pleural Other": r"pleural (?:thickening|plaque|calcification|scar)",
    "Fracture": r"fracture",
    "Support Devices": r"device|tube|catheter|\bline\b|pacemaker|pacer|wire|sternotomy|clip|stent|\bport\b|lead|valve|"
    r"hardware|defibrillator|generator|drain|shunt|prosthe|fixation|plate|screw",
}
"""Per class, words of a denial that covers every way the class can be stated (independent of ``vocab``)."""


@dataclass(frozen=True)
class GoldLabel:
    polarity: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class GoldSentence:
    text: str
    labels: Mapping[str, GoldLabel]


@dataclass(frozen=True)
class GoldReport:
    id: int
    uid: str
    split: str
    text: str
    sentences: tuple[GoldSentence, ...]

    def report_labels(self) -> dict[str, str]:
        """Class -> polarity over the whole report (positive > uncertain > negative), as CheXpert aggregates."""
        rank = {"positive": 2, "uncertain": 1, "negative": 0}
        out: dict[str, str] = {}
        for s in self.sentences:
            for cls, lab in s.labels.items():
                if cls not in out or rank[lab.polarity] > rank[out[cls]]:
                    out[cls] = lab.polarity
        return out


def load_gold(path: str | Path, *, split: str | None = None) -> list[GoldReport]:
    """Read the gold JSONL (one report a line); ``split`` keeps only that split.

    Raises:
        ValueError: an unknown class or polarity, or an evidence string that is not in its sentence (with the id).
    """
    out: list[GoldReport] = []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        sents = []
        for s in row["sentences"]:
            labels = {}
            for cls, lab in s["labels"].items():
                if cls not in FINDINGS:
                    raise UserError(f"line {line_no} (id {row['id']}): unknown class {cls!r}")
                if lab["polarity"] not in POLARITIES:
                    raise UserError(f"line {line_no} (id {row['id']}): unknown polarity {lab['polarity']!r}")
                for ev in lab["evidence"]:
                    if ev not in s["text"]:
                        raise UserError(f"line {line_no} (id {row['id']}): evidence {ev!r} not in {s['text']!r}")
                labels[cls] = GoldLabel(lab["polarity"], tuple(lab["evidence"]))
            sents.append(GoldSentence(s["text"], labels))
        rep = GoldReport(int(row["id"]), row["uid"], row["split"], row["text"], tuple(sents))
        if split is None or rep.split == split:
            out.append(rep)
    return out


# --------------------------------------------------------------------------------------------------- labeler


@dataclass(frozen=True)
class ClassPRF:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class LabelerScore:
    per_class: dict[str, ClassPRF]
    macro_f1: float
    n_reports: int
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)
    """(gold id, class, gold presence, predicted presence) for every disagreement."""


def _present(labels: Mapping[str, str]) -> set[str]:
    out = {c for c, p in labels.items() if c in FINDINGS and p in ("positive", "uncertain")}
    if not out - {"Support Devices"}:
        out.add("No Finding")
    return out


def score_labeler(gold: Sequence[GoldReport], label_fn: Callable[[str], Mapping[str, str]]) -> LabelerScore:
    """Report-level P / R / F1 per class (present = positive or uncertain), macro over classes with gold support.

    Args:
        gold: gold reports.
        label_fn: report text -> class -> polarity (e.g. ``lambda t: label_report(t).labels``).
    """
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    errors = []
    for rep in gold:
        g = _present(rep.report_labels())
        p = _present(label_fn(rep.text))
        for cls in CHEXPERT_CLASSES:
            if cls in g and cls in p:
                tp[cls] += 1
            elif cls in p:
                fp[cls] += 1
                errors.append((rep.id, cls, "absent", "present"))
            elif cls in g:
                fn[cls] += 1
                errors.append((rep.id, cls, "present", "absent"))
    per = {}
    for cls in CHEXPERT_CLASSES:
        support = tp[cls] + fn[cls]
        if not support:
            continue
        prec = tp[cls] / (tp[cls] + fp[cls]) if tp[cls] + fp[cls] else 0.0
        rec = tp[cls] / support
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[cls] = ClassPRF(prec, rec, f1, support)
    macro = sum(s.f1 for s in per.values()) / len(per) if per else 0.0
    return LabelerScore(per, macro, len(gold), errors)


# ------------------------------------------------------------------------------------------------- generator


def plain_sentences(text: str) -> list[str]:
    """Sentences of a report by a deliberately simple rule: drop ``HEADER:`` words, split after ``.!?``."""
    body = _HEADER.sub(" ", text)
    return [s.strip() for s in _SPLIT.split(body) if s.strip()]


def _words(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z])" + re.escape(term.lower()) + r"(?![A-Za-z])")


def _stem(head: str) -> re.Pattern[str]:
    """The head word with an optional plural ending, as whole words."""
    return re.compile(r"(?<![A-Za-z])" + re.escape(head) + r"(?:s|es)?(?![A-Za-z])")


def _head(term: str) -> str:
    """The head word of an evidence phrase, singular-ish ("pleural effusions" -> "effusion")."""
    words = re.findall(r"[A-Za-z]+", term.lower())
    w = words[-1] if words else term.lower()
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith("es") and w[:-2].endswith(("ss", "x", "ch", "sh")):
        return w[:-2]
    return w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w


@dataclass(frozen=True)
class CaseResult:
    id: int
    finding: str
    passed: Mapping[str, bool]
    why: Mapping[str, str]
    omitted: str
    negated: str

    @property
    def ok(self) -> bool:
        return all(self.passed.values())


def _remainder(text: str, kept: Iterable[str]) -> list[str]:
    """The pieces of ``text`` left after taking out each ``kept`` sentence once (the rewritten statements)."""
    body = " " + _HEADER.sub(" ", text) + " "
    for s in kept:
        body = body.replace(s, " ", 1)
    return [p for p in plain_sentences(body) if not _NOISE.match(p)]


def judge_case(rep: GoldReport, finding: str, omitted: str, negated: str) -> tuple[dict[str, bool], dict[str, str]]:
    """The four criteria for one case; returns (criterion -> passed, criterion -> why it failed)."""
    about = [s for s in rep.sentences if finding in s.labels]
    present = [s for s in about if s.labels[finding].polarity in ("positive", "uncertain")]
    others = [s for s in rep.sentences if finding not in s.labels]
    verbatim = [s.text for s in rep.sentences if s.text in omitted]
    pieces = _remainder(omitted, verbatim)
    low_pieces = [p.lower() for p in pieces]
    passed: dict[str, bool] = {}
    why: dict[str, str] = {}

    # removed
    survived = [s.text for s in present if s.text in omitted]
    heads = {_head(ev) for s in present for ev in s.labels[finding].evidence}
    # a head word that also names another class of the same sentence ("density" of a kept "nodular density") is no
    # evidence of a leak
    shared = {_head(ev) for s in about for c, lab in s.labels.items() if c != finding for ev in lab.evidence}
    leaked = [h for h in sorted(heads - shared) if any(_stem(h).search(p) for p in low_pieces)]
    passed["removed"] = not survived and not leaked
    if survived:
        why["removed"] = f"sentence kept: {survived[0]!r}"
    elif leaked:
        why["removed"] = f"the word {leaked[0]!r} still in a rewritten piece"

    # kept
    lost = [s.text for s in others if s.text not in omitted]
    passed["kept"] = not lost
    if lost:
        why["kept"] = f"lost: {lost[0]!r}"

    # mixed
    problems = []
    for s in about:
        if s.text in omitted:
            continue  # judged by "removed" (or harmless when the finding is only denied there)
        own = {ev.lower() for ev in s.labels[finding].evidence}
        for cls, lab in s.labels.items():
            if cls == finding or own & {ev.lower() for ev in lab.evidence}:
                continue  # one word naming both ("hydropneumothorax") cannot be kept for one and removed for the other
            hits = [(p, t) for t in lab.evidence for p in pieces if _words(t).search(p.lower())]
            if not hits:
                problems.append(f"{cls} ({lab.evidence[0]!r}) lost from {s.text!r}")
                continue
            piece, term = hits[0]
            before = piece.lower()[: _words(term).search(piece.lower()).start()]  # type: ignore[union-attr]
            negated_here = bool(_NEGATION.search(before) or _NORMAL.search(piece))
            if lab.polarity == "negative" and not negated_here:
                problems.append(f"{cls} no longer negated in {piece!r}")
            elif lab.polarity == "positive" and negated_here:
                problems.append(f"{cls} now negated in {piece!r}")
    for p in pieces:
        if (
            not p[:1].isupper()
            or p[-1] not in ".!?"
            or _BAD_START.search(p)
            or _BAD_THERE.search(p)
            or _DOUBLE.search(p)
        ):
            problems.append(f"ill-formed statement {p!r}")
    passed["mixed"] = not problems
    if problems:
        why["mixed"] = problems[0]

    # inserted
    rn, rr = Counter(plain_sentences(negated)), Counter(plain_sentences(omitted))
    new, gone = list((rn - rr).elements()), list((rr - rn).elements())
    problem = ""
    if gone:
        problem = f"r^n lost {gone[0]!r} of r^r"
    elif len(new) != 1:
        problem = f"{len(new)} new statements"
    else:
        stmt = new[0].lower()
        said = " ".join(s.text.lower() for s in present)
        narrow = [q for q in NARROWING if _words(q).search(stmt) and not _words(q).search(said)]
        if not _NEGATION.search(stmt):
            problem = f"{new[0]!r} does not deny anything"
        elif not (any(_words(h).search(stmt) or h in stmt for h in heads) or re.search(COVERING[finding], stmt)):
            problem = f"{new[0]!r} does not name the finding as stated ({sorted(heads)})"
        elif narrow:
            problem = f"{new[0]!r} narrows the denial with {narrow[0]!r}"
    passed["inserted"] = not problem
    if problem:
        why["inserted"] = problem
    return passed, why


@dataclass
class GeneratorScore:
    cases: list[CaseResult]

    @property
    def n(self) -> int:
        return len(self.cases)

    def rate(self, criterion: str | None = None) -> float:
        """Fraction of cases passing ``criterion`` (all four when None)."""
        if not self.cases:
            return float("nan")
        if criterion is None:
            return sum(c.ok for c in self.cases) / len(self.cases)
        return sum(c.passed[criterion] for c in self.cases) / len(self.cases)

    def per_finding(self) -> dict[str, dict[str, int]]:
        """Per finding: cases, and cases failing each criterion (an aggregate: no case is named)."""
        out: dict[str, dict[str, int]] = {}
        for c in self.cases:
            row = out.setdefault(c.finding, {"cases": 0, "ok": 0} | dict.fromkeys(CRITERIA, 0))
            row["cases"] += 1
            row["ok"] += c.ok
            for k in CRITERIA:
                row[k] += not c.passed[k]
        return out


def generator_cases(gold: Sequence[GoldReport]) -> list[tuple[GoldReport, str]]:
    """(report, finding) for every finding gold-positive in the report, in id then class order."""
    return [(rep, f) for rep in gold for f in FINDINGS if rep.report_labels().get(f) == "positive"]


def score_generator(
    gold: Sequence[GoldReport],
    omit: Callable[[str, str], str],
    negate: Callable[[str, str], str],
) -> GeneratorScore:
    """Judge ``omit`` (r^r) and ``negate`` (r^n) on every gold-positive (report, finding)."""
    out = []
    for rep, f in generator_cases(gold):
        rr, rn = omit(rep.text, f), negate(rep.text, f)
        passed, why = judge_case(rep, f, rr, rn)
        out.append(CaseResult(rep.id, f, passed, why, rr, rn))
    return GeneratorScore(out)


# ------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cxrvlp.text.validation GOLD.jsonl [--split S] [--ids A-B] [--failures N] [--json OUT]``."""
    ap = argparse.ArgumentParser(prog="python -m cxrvlp.text.validation", description=__doc__.splitlines()[0])
    ap.add_argument("gold", type=Path)
    ap.add_argument("--split", choices=("dev", "heldout"), default=None, help="default: all reports")
    ap.add_argument("--ids", default=None, metavar="A-B", help="only reports with ids A..B (e.g. one labelling round)")
    ap.add_argument("--failures", type=int, default=0, help="print up to N failing cases / labeler errors")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers as JSON")
    args = ap.parse_args(argv)

    from cxrvlp.text.labeler import label_report
    from cxrvlp.text.negation import make_negated, make_omitted

    gold = load_gold(args.gold, split=args.split)
    if args.ids:
        lo, _, hi = args.ids.partition("-")
        if not (lo.isdigit() and hi.isdigit()):
            ap.error(f"--ids must look like 500-599, got {args.ids!r}")
        gold = [r for r in gold if int(lo) <= r.id <= int(hi)]
    lab = score_labeler(gold, lambda t: label_report(t).labels)
    gen = score_generator(gold, make_omitted, make_negated)
    print(f"{len(gold)} gold reports ({args.split or 'all'}), {gen.n} generator cases")
    print(f"{'class':<28}{'P':>7}{'R':>7}{'F1':>7}{'n':>5}")
    for cls, s in lab.per_class.items():
        print(f"{cls:<28}{s.precision:7.3f}{s.recall:7.3f}{s.f1:7.3f}{s.support:5d}")
    print(f"labeler report-level macro-F1: {lab.macro_f1:.3f}")
    for c in CRITERIA:
        print(f"generator {c:<9} {gen.rate(c):.3f}")
    print(f"generator all four: {gen.rate():.3f} ({sum(c.ok for c in gen.cases)} / {gen.n})")
    print(
        f"{'generator per finding':<28}{'cases':>6}{'ok':>6}" + "".join(f"{c:>10}" for c in CRITERIA) + "  (failures)"
    )
    for finding, row in sorted(gen.per_finding().items()):
        print(f"{finding:<28}{row['cases']:6d}{row['ok']:6d}" + "".join(f"{row[c]:10d}" for c in CRITERIA))
    if args.failures:
        for rid, cls, g, p in lab.errors[: args.failures]:
            print(f"  labeler id {rid}: {cls} gold {g}, predicted {p}")
        for c in [c for c in gen.cases if not c.ok][: args.failures]:
            print(f"  case id {c.id} {c.finding}: " + "; ".join(f"{k}: {v}" for k, v in c.why.items()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "split": args.split or "all",
                    "ids": args.ids or "all",
                    "reports": len(gold),
                    "labeler_macro_f1": lab.macro_f1,
                    "labeler_per_class": {k: vars(v) for k, v in lab.per_class.items()},
                    "generator_cases": gen.n,
                    "generator": {c: gen.rate(c) for c in CRITERIA} | {"all": gen.rate()},
                    "generator_per_finding": gen.per_finding(),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
