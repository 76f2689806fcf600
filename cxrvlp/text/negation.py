"""CXR-Align report variants (Ko & Park Sec. 3 / 4.1): r^r (finding omitted), r^n (finding negated), and the
hard negative of a normal report.

``make_omitted`` removes every statement about a finding from a report, keeping its layout (headers, other
sentences) untouched. Per sentence that mentions the finding it tries, in order, and keeps the first rewrite whose
labels equal the sentence's labels without the finding:

1. the sentence mentions nothing else -> drop it;
2. delete the finding's item from a list ("No effusion, pneumothorax or edema." -> "No effusion or edema.");
3. split the sentence into single-finding statements and drop the finding's ones;
4. otherwise drop the whole sentence (other findings stated only in it are lost: the measured residue).

``make_negated`` applies ``make_omitted`` and inserts one predefined negative statement ("No pneumothorax.",
"There is no evidence of pneumothorax.", ...) at the beginning, middle or end (drawn with ``random.Random``). A
report that never mentions the finding gets the statement inserted all the same: r^n then states a negative the
original left implicit, which is what CXR-Align asks of a negated report.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence

from cxrvlp.text import vocab
from cxrvlp.text.labeler import (
    CUE_RE,
    LabeledReport,
    Mention,
    aggregate,
    check_finding,
    find_mentions,
    label_report,
    lower_same_length,
    positive_pathologies,
)
from cxrvlp.text.sections import label_regions, sentence_spans
from cxrvlp.text.statements import SEP_RE, sentence_labels, sentence_mentions, split_statement, tidy

_VERBISH = re.compile(r"\b(?:is|are|was|were|seen|noted|identified|present|appears?|there)\b")


def negative_statements(finding: str) -> list[str]:
    """The predefined negative statements about ``finding`` (one per template in ``vocab.NEGATION_TEMPLATES``)."""
    return list(_negative_statements(check_finding(finding)))


@functools.cache
def _negative_statements(finding: str) -> tuple[str, ...]:
    phrase = vocab.NEGATION_PHRASES[finding]
    return tuple(tidy(t.format(f=phrase)) for t in vocab.NEGATION_TEMPLATES)


def _item_deletions(sentence: str, mentions: list[Mention], finding: str) -> list[str]:
    """Candidate rewrites deleting the finding's list items (one candidate deleting all of them)."""
    low = lower_same_length(sentence)
    cue_ends = [m.end() for m in CUE_RE.finditer(low) if m.lastgroup != "pseudo"]
    seps = list(SEP_RE.finditer(sentence))
    others = [m for m in mentions if m.cls != finding]
    cuts: list[tuple[int, int]] = []
    for m in (x for x in mentions if x.cls == finding):
        span = m.evidence[0]
        left = [s for s in seps if s.end() <= span[0] and any(o.end <= s.start() for o in others)]
        right = [s for s in seps if s.start() >= span[1] and any(o.start >= s.end() for o in others)]
        item_start = max([0, *(s.end() for s in left), *(c for c in cue_ends if c <= span[0])])
        if left and left[-1].end() == item_start:
            cut = (left[-1].start(), _item_end(sentence, span[1], seps))
        elif right and not _VERBISH.search(sentence[span[1] : right[0].start()]) and right[0].start() - span[1] < 40:
            cut = (item_start, right[0].end())
        else:
            return []
        cuts.append(cut)
    out = sentence
    for a, b in sorted(set(cuts), reverse=True):
        out = out[:a] + (" " if out[:a] and out[:a][-1] != " " else "") + out[b:]
    return [tidy(out)]


def _item_end(sentence: str, end: int, seps: list[re.Match[str]]) -> int:
    nxt = [s.start() for s in seps if s.start() >= end]
    if nxt and not _VERBISH.search(sentence[end : nxt[0]]) and nxt[0] - end < 40:
        return nxt[0]
    return end


def _omit_sentence(sentence: str, finding: str) -> str:
    mentions = sentence_mentions(sentence)
    if all(m.cls != finding for m in mentions):
        return sentence
    if all(m.cls == finding for m in mentions):
        return ""
    target = {c: p for c, p in aggregate(mentions)[0].items() if c != finding}
    candidates = _item_deletions(sentence, mentions, finding)
    parts = split_statement(sentence, mentions=mentions)
    if len(parts) > 1:
        candidates.append(" ".join(p for p in parts if finding not in sentence_labels(p)))
    candidates.append(_reconstruct(sentence, mentions, finding, target))
    for cand in candidates:
        if cand and sentence_labels(cand) == target:
            return cand
    return ""


_MODIFIER_STOP = re.compile(
    r"^(?:xxxx|a|an|the|of|in|on|at|to|for|with|and|or|is|are|was|were|be|been|there|this|these|which|that|"
    r"no|not|without|may|might|could|possible|possibly|probable|probably|likely|suggest\w*|represent\w*|"
    r"reflect\w*|concerning|compatible|consistent|most|seen|noted|identified|from|by|as|due|than|versus|vs)$"
)


def _noun_phrase(sentence: str, m: Mention) -> str:
    """The mention's words plus up to three preceding modifiers ("left lower lobe" + "pneumonia")."""
    start, end = m.evidence[0]
    words = re.findall(r"[A-Za-z][\w-]*", sentence[max(0, start - 60) : start])
    mods: list[str] = []
    for w in reversed(words[-3:]):
        if _MODIFIER_STOP.match(w.lower()):
            break
        mods.insert(0, w)
    phrase = " ".join([*mods, sentence[start:end]]).lower()
    classes = {x.cls for x in find_mentions(phrase, [(0, len(phrase))])}
    if classes == {m.cls}:
        return phrase
    bare = sentence[start:end].lower()
    bare_classes = {x.cls for x in find_mentions(bare, [(0, len(bare))])}
    return bare if bare_classes == {m.cls} else vocab.NEGATION_PHRASES[m.cls]  # "hydropneumothorax" names two


def _reconstruct(sentence: str, mentions: list[Mention], finding: str, target: dict[str, str]) -> str:
    """Fallback rewrite: one plain statement per other finding, with the sentence's polarity for it."""
    out = []
    for cls, pol in target.items():
        m = next(x for x in mentions if x.cls == cls and x.polarity == pol)
        direct = m.evidence[0][1] - m.evidence[0][0] == m.end - m.start
        phrase = _noun_phrase(sentence, m) if direct else vocab.NEGATION_PHRASES[cls]
        if pol == "negative":
            out.append(f"No {phrase}.")
        elif pol == "uncertain":
            out.append(f"Possible {phrase}.")
        else:
            out.append(tidy(phrase))
    return " ".join(out)


def make_omitted(report: str, finding: str) -> str:
    """r^r: the report with every statement about ``finding`` removed (layout and other sentences kept).

    Args:
        report: a free-text report.
        finding: one of the 13 CheXpert findings ("No Finding" is not a statement one can remove).

    Returns:
        The rewritten report; unchanged when it does not mention the finding.

    Raises:
        ValueError: unknown finding (the message lists the valid names).
    """
    check_finding(finding)
    regions = label_regions(report)
    starts = [m.start for m in find_mentions(report, regions) if m.cls == finding]
    if not starts:
        return report
    edits: list[tuple[int, int, str]] = []
    for rs, re_ in regions:
        for a, b in sentence_spans(report, rs, re_):
            if not any(a <= x < b for x in starts):
                continue
            sentence = report[a:b]
            kept = _omit_sentence(sentence, finding)
            if kept != sentence:
                edits.append((a, b, kept))
    out = report
    for a, b, kept in reversed(edits):
        tail = out[b:]
        if not kept:
            tail = tail.lstrip(" ")
        out = out[:a] + kept + tail
    return out.rstrip() if edits else out


def make_negated(report: str, finding: str, *, seed: int = 0) -> str:
    """r^n: :func:`make_omitted` plus one negative statement about ``finding`` at the beginning, middle or end.

    The template and the position are drawn from ``random.Random`` seeded with ``seed``, the finding and the
    report, so a given (report, finding, seed) always gives the same r^n while different reports vary.

    Raises:
        ValueError: unknown finding (the message lists the valid names).
    """
    omitted = make_omitted(report, finding)
    rng = random.Random(f"{seed}\x00{finding}\x00{report}")
    statement = rng.choice(_negative_statements(finding))
    where = rng.choice(("beginning", "middle", "end"))
    spans = [s for rs, re_ in label_regions(omitted) for s in sentence_spans(omitted, rs, re_)]
    if not spans:
        regions = label_regions(omitted)
        if regions and regions[0][1] < len(omitted):  # "FINDINGS:" with nothing after it
            pos = regions[0][0]
            return (omitted[:pos].rstrip() + " " + statement + " " + omitted[pos:].lstrip()).strip()
        return (omitted.rstrip() + " " + statement).strip()
    if where == "beginning":
        pos = spans[0][0]
    elif where == "middle" and len(spans) > 1:
        pos = spans[rng.randrange(1, len(spans))][0]
    else:
        pos = spans[-1][1]
        return omitted[:pos] + " " + statement + omitted[pos:]
    return omitted[:pos] + statement + " " + omitted[pos:]


def hardneg_for_normal(pool: Sequence[str], *, seed: int = 0, labels: Sequence[LabeledReport] | None = None) -> str:
    """A hard negative for a normal report: a report from ``pool`` with exactly one positive finding.

    "Positive finding" counts the 12 pathologies (Support Devices and "No Finding" do not count: a normal study
    with a pacemaker is still normal). The choice is uniform among the eligible reports, drawn with
    ``random.Random(seed)``.

    Args:
        pool: candidate reports.
        seed: random seed.
        labels: ``label_report`` of each pool entry, when already computed (same length as ``pool``).

    Raises:
        ValueError: no report in the pool has exactly one positive finding, or ``labels`` has the wrong length.
    """
    if labels is not None and len(labels) != len(pool):
        raise ValueError(f"labels has {len(labels)} entries for a pool of {len(pool)} reports")
    lab = labels if labels is not None else [label_report(r) for r in pool]
    eligible = [i for i, lr in enumerate(lab) if len(positive_pathologies(lr.labels)) == 1]
    if not eligible:
        raise ValueError(f"no report among the {len(pool)} in the pool has exactly one positive finding")
    return pool[random.Random(seed).choice(eligible)]
