"""CXR-Align report variants (Ko & Park Sec. 3 / 4.1): r^r (finding omitted), r^n (finding negated), and the
hard negative of a normal report.

``make_omitted`` removes every statement about a finding from a report that asserts it (positive or uncertain),
keeping its layout (headers, other sentences) untouched. Per sentence that mentions the finding it tries, in order,
and keeps the first rewrite whose labels equal the sentence's labels without the finding:

1. the sentence mentions nothing else -> drop it (with its list number, "2.");
2. delete the finding's item from a list ("No effusion, pneumothorax or edema." -> "No effusion or edema.";
   "Cardiomegaly and small effusions." -> "Cardiomegaly.");
3. split the sentence into single-finding statements and drop the finding's ones;
4. rebuild the other findings as plain statements ("Possible pneumonia.");
5. otherwise keep the sentence if it only denies the finding, or a rewrite that keeps such a denial, else drop it.

``make_negated`` is built only for a finding the report asserts as **positive** (``ValueError`` otherwise): it
applies ``make_omitted`` and inserts one negative statement chosen for the way the report states the finding
(``vocab.NEGATION_SUBTYPES``: "interstitial opacities" -> "No interstitial opacities.", "healed rib fractures" ->
"No rib fracture.", "endotracheal tube" -> "No endotracheal tube."), never one the original already contains, at
the beginning, middle or end (drawn with ``random.Random``).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence

from cxrvlp.text import vocab
from cxrvlp.text.labeler import (
    CUE_RE,
    NEGATIVE,
    POSITIVE,
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
from cxrvlp.text.statements import (
    DEPENDENT_START_RE,
    SEP_RE,
    fluent,
    sentence_labels,
    sentence_mentions,
    split_statement,
    tidy,
)
from cxrvlp.types import UserError

_VERBISH = re.compile(r"\b(?:is|are|was|were|seen|noted|identified|present|appears?|there)\b")
_LINKING_RE = re.compile(
    r"\b(?:is|are|was|were|seen|noted|present|appears?|there|represent\w*|reflect\w*|suggest\w*|indicat\w*|"
    r"consistent|compatible|likely|probably|due|related|secondary|with|without)\b"
)
_LIST_NUMBER_RE = re.compile(r"(?:^|(?<=\s))\d{1,2}[.)]\s*$")


def negative_statements(finding: str, phrase: str | None = None) -> list[str]:
    """Negative statements about ``finding``.

    Args:
        finding: one of the 13 findings.
        phrase: how the report names the finding ("interstitial opacities", "left rib fractures", "PICC line");
            None gives the statements of every subtype (devices as "support devices", bones unnamed).

    Returns:
        Statements the labeler reads as ``{finding: "negative"}`` and nothing else, most specific subtype first.
    """
    check_finding(finding)
    if phrase is None:
        out: list[str] = []
        for _, templates in vocab.NEGATION_SUBTYPES[finding]:
            out.extend(x for x in _fill(finding, templates, "", "support devices") if x not in out)
        return out
    return list(_statements_for_phrase(finding, phrase.lower()))


def _fill(finding: str, templates: Sequence[str], bone: str, device: str) -> list[str]:
    names = device.split(" or ")

    def plural(name: str) -> bool:
        return name.endswith("s") and not name.endswith("ss")

    out = []
    for t in templates:
        # "There is no X or Y" agrees with X, "X or Y is seen" with Y (the nearer noun)
        if plural(names[0]):
            t = t.replace("There is no {d}", "There are no {d}")
        if plural(names[-1]):
            t = t.replace("{d} is ", "{d} are ")
        text = tidy(t.format(a=bone, d=device))
        if _denies_only(finding, text):
            out.append(text)
    return out


@functools.cache
def _denies_only(finding: str, statement: str) -> bool:
    return sentence_labels(statement) == {finding: NEGATIVE}


@functools.cache
def _statements_for_phrase(finding: str, phrase: str) -> tuple[str, ...]:
    bone = next((word for pat, word in vocab.FRACTURE_SITES if re.search(pat, phrase)), "")
    names: list[str] = []
    if finding == "Support Devices":
        for part in phrase.split("\x00"):
            name = next((n for pat, n in vocab.DEVICE_NAMES if re.search(pat, part)), "support devices")
            if name not in names:
                names.append(name)
    if len(names) > 1:  # a named device wins over the generic name; a pacemaker's leads are the pacemaker
        names = [n for n in names if n != "support devices"]
        if {"pacemaker", "cardiac defibrillator"} & set(names):
            names = [n for n in names if n != "cardiac device leads"]
    device = " or ".join(names[:2]) if len(names) <= 2 else "lines, tubes or support devices"
    for pat, templates in vocab.NEGATION_SUBTYPES[finding]:
        if re.search(pat, phrase):
            out = _fill(finding, templates, bone, device or "support devices")
            if out:
                return tuple(out)
    return tuple(_fill(finding, vocab.NEGATION_TEMPLATES, "", "")) or (tidy(f"No {vocab.NEGATION_PHRASES[finding]}."),)


def _subtype(finding: str, phrase: str) -> int:
    return next(i for i, (pat, _) in enumerate(vocab.NEGATION_SUBTYPES[finding]) if re.search(pat, phrase))


def _asserts(m: Mention, finding: str) -> bool:
    return m.cls == finding and m.polarity != NEGATIVE


def _item_deletions(sentence: str, mentions: list[Mention], finding: str) -> list[str]:
    """Candidate rewrites deleting the list items that assert the finding (one candidate deleting all of them)."""
    low = lower_same_length(sentence)
    cue_ends = [m.end() for m in CUE_RE.finditer(low) if m.lastgroup in ("pre_neg", "pre_unc", "pre_ind", "alt")]
    seps = list(SEP_RE.finditer(sentence))
    others = [m for m in mentions if m.cls != finding]
    cuts: list[tuple[int, int]] = []
    for m in (x for x in mentions if _asserts(x, finding)):
        span = m.evidence[0]
        left = [s for s in seps if s.end() <= span[0] and any(o.end <= s.start() for o in others)]
        right = [s for s in seps if s.start() >= span[1] and any(o.start >= s.end() for o in others)]
        item_start = max([0, *(s.end() for s in left), *(c for c in cue_ends if c <= span[0])])
        if _LINKING_RE.search(low, item_start, span[0]):  # "opacity may represent atelectasis": not a list item
            return []
        if left and left[-1].end() == item_start:
            end = _item_end(sentence, span[1], seps)
            if _TRAILING_EXPLANATION_RE.match(sentence, end):  # "..., X compatible with scarring."
                if any(o.start >= end for o in others):
                    return []  # the explanation names another finding: not a list item of its own
                end = len(sentence.rstrip().rstrip(".!?"))
            if left[-1].group(0) == ", " and re.match(r", (?:and|or) ", sentence[end:]):
                end += 1  # "A, B, and C" minus B: "A and C"
            cut = (left[-1].start(), end)
        elif right and not _VERBISH.search(sentence[span[1] : right[0].start()]) and right[0].start() - span[1] < 40:
            cut = (item_start, right[0].end())
        else:
            return []
        if any(o.start < cut[1] and cut[0] < o.end for o in others):  # the cut would take another finding along
            return []
        cuts.append(cut)
    out = sentence
    for a, b in sorted(set(cuts), reverse=True):
        out = out[:a] + (" " if out[:a] and out[:a][-1] != " " else "") + out[b:]
    return [fluent(out)]


_TRAILING_EXPLANATION_RE = re.compile(
    r",? (?:(?:most |more )?(?:likely|probably|possibly) )?(?:compatible with|consistent with|suggest\w*(?: of)?|"
    r"likely|probably|representing|reflecting|(?:which|that) (?:may |likely |probably )?(?:represents?|reflects?)|"
    r"(?:likely |probably )?(?:due|related|secondary) to)\b"
)
"""An explanation trailing a list item ("left base irregularity compatible with scarring"): it goes with the item
when nothing after it names another finding."""


def _item_end(sentence: str, end: int, seps: list[re.Match[str]]) -> int:
    nxt = [s.start() for s in seps if s.start() >= end]
    if nxt and not _VERBISH.search(sentence[end : nxt[0]]) and nxt[0] - end < 40:
        return nxt[0]
    return end


def _omit_sentence(sentence: str, finding: str) -> str:
    """The sentence without its statements asserting ``finding`` ("" when nothing else is left)."""
    mentions = sentence_mentions(sentence)
    if not any(_asserts(m, finding) for m in mentions):
        return sentence
    if all(m.cls == finding for m in mentions):
        return ""
    target = {c: p for c, p in aggregate(mentions)[0].items() if c != finding}
    candidates = _item_deletions(sentence, mentions, finding)
    parts = split_statement(sentence, mentions=mentions)
    if len(parts) > 1:
        kept = (fluent(x) for x in parts if sentence_labels(x).get(finding, NEGATIVE) == NEGATIVE)
        candidates.append(" ".join(p for p in kept if p))
    candidates.extend(_phrase_deletions(sentence, mentions, finding))
    candidates.extend(_modifier_deletions(sentence, mentions, finding))
    candidates.append(_reconstruct(sentence, mentions, finding, target))  # the last resort: plain statements
    ok = [cand for cand in candidates if cand and not DEPENDENT_START_RE.match(cand) and _keeps(cand, finding, target)]
    # prefer a rewrite that keeps the words of every other finding's mention ("..., suggesting mild pulmonary edema"
    # is not dropped because another Edema mention alone already gives the same class label)
    words = {sentence[m.evidence[0][0] : m.evidence[0][1]].lower() for m in mentions if m.cls != finding}
    full = [cand for cand in ok if all(w in cand.lower() for w in words)]
    return (full or ok or [""])[0]


_PHRASE_SEP_RE = re.compile(r", | with | and ")
_PHRASE_END_RE = re.compile(r", | with | and | (?=(?:shows?|demonstrates?|reveals?) )")
"""Where a cut phrase may end: a separator, or the verb of a subject it modifies ("view of the chest with overlying
monitor leads shows ...")."""


def _phrase_deletions(sentence: str, mentions: list[Mention], finding: str) -> list[str]:
    """A rewrite cutting each asserting mention's phrase, from the separator (", ", " with ", " and ") before it up
    to the next one, when no other finding lies in the cut ("X is prominent with increased markings, suggesting
    edema" minus the markings: "X is prominent, suggesting edema.")."""
    others = [m for m in mentions if m.cls != finding]
    seps = list(_PHRASE_SEP_RE.finditer(sentence))
    ends = list(_PHRASE_END_RE.finditer(sentence))
    cuts = []
    for m in (x for x in mentions if _asserts(x, finding)):
        before = [p for p in seps if p.end() <= m.start]
        after = [p for p in ends if p.start() >= m.end]
        if not before or not after:
            return []
        a, b = before[-1].start(), after[0].start()
        if any(o.start < b and a < o.end for o in others):
            return []
        cuts.append((a, b))
    out = sentence
    for a, b in sorted(set(cuts), reverse=True):
        out = out[:a] + out[b:]
    return [fluent(out)] if out != sentence else []


_COORD_BEFORE_RE = re.compile(r"(?:,? (?:and|or) |, )$")


def _modifier_deletions(sentence: str, mentions: list[Mention], finding: str) -> list[str]:
    """A rewrite dropping the finding's own modifier from a coordination that shares its head noun with another
    finding ("interstitial and nodular opacities" minus the nodules: "interstitial opacities")."""
    asserting = [m for m in mentions if _asserts(m, finding)]
    if len(asserting) != 1:
        return []
    m = asserting[0]
    coord = _COORD_BEFORE_RE.search(sentence, 0, m.start)
    first = re.match(r"[\w-]+", sentence[m.start : m.end])
    if coord is None or first is None or first.end() == m.end - m.start:
        return []
    return [fluent(sentence[: coord.start()] + sentence[m.start + first.end() :])]


def _keeps(cand: str, finding: str, target: dict[str, str]) -> bool:
    labels = sentence_labels(cand)
    return labels.get(finding, NEGATIVE) == NEGATIVE and {c: p for c, p in labels.items() if c != finding} == target


_MODIFIER_STOP = re.compile(
    r"^(?:xxxx|a|an|the|of|in|on|at|to|for|with|and|or|is|are|was|were|be|been|there|this|these|which|that|"
    r"no|not|without|may|might|could|possible|possibly|probable|probably|likely|suggest\w*|represent\w*|"
    r"reflect\w*|concerning|compatible|consistent|most|seen|noted|identified|from|by|as|due|than|versus|vs|cm|mm)$"
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
        if not direct:  # anatomy + size ("normal size of the cardiac silhouette"): keep the anatomy's words
            anatomy = sentence[m.evidence[0][0] : m.evidence[0][1]]
            verb = "are" if anatomy.endswith("s") else "is"
            size = "borderline enlarged" if pol == "uncertain" else "enlarged"
            statement = f"No enlargement of the {anatomy}." if pol == "negative" else f"The {anatomy} {verb} {size}."
            if sentence_labels(statement) == {cls: pol}:
                out.append(statement)
                continue
        phrase = _noun_phrase(sentence, m) if direct else vocab.NEGATION_PHRASES[cls]
        if direct:  # an adjective left alone ("3 cm nodular" of "nodular infiltrate") gets a noun of its class
            last = phrase.rsplit(" ", 1)[-1]
            if last in vocab.ADJECTIVE_NOUNS:
                phrase = phrase[: len(phrase) - len(last)] + vocab.ADJECTIVE_NOUNS[last]
        if direct:  # every direct mention of the class with that polarity ("edema and vascular congestion")
            phrases = [phrase]
            for x in mentions:
                if (
                    x is not m
                    and x.cls == cls
                    and x.polarity == pol
                    and x.evidence[0][1] - x.evidence[0][0] == x.end - x.start
                ):
                    p = _noun_phrase(sentence, x)
                    if p not in phrases and not any(p in q or q in p for q in phrases):
                        phrases.append(p)
            phrase = " and ".join(phrases)
        if pol == "negative":
            out.append(f"No {phrase}.")
        elif pol == "uncertain":
            out.append(f"Possible {phrase}.")
        else:
            out.append(tidy(phrase))
    return " ".join(out)


def make_omitted(report: str, finding: str) -> str:
    """r^r: the report with every statement about ``finding`` removed, for a report that asserts it (positive or
    uncertain).

    Layout and every other sentence are kept as written; a sentence that also states other findings keeps them
    (list item deleted, or split into statements). A denial of the finding that cannot be cut out of a sentence
    without losing another finding ("the cardiomediastinal silhouette is normal") stays: it does not assert it.

    Args:
        report: a free-text report.
        finding: one of the 13 CheXpert findings ("No Finding" is not a statement one can remove).

    Returns:
        The rewritten report; unchanged when it does not assert the finding (absent or only denied).

    Raises:
        ValueError: unknown finding (the message lists the valid names).
    """
    check_finding(finding)
    regions = label_regions(report)
    return _omit(report, finding, regions, find_mentions(report, regions))


def _omit(report: str, finding: str, regions: list[tuple[int, int]], mentions: list[Mention]) -> str:
    starts = [m.start for m in mentions if _asserts(m, finding)]
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
        head, tail = out[:a], out[b:]
        if not kept:
            tail = tail.lstrip(" ")
            number = _LIST_NUMBER_RE.search(head)  # "2. " of a dropped impression item
            if number is not None:
                head = head[: number.start()]
        out = head + kept + tail
    return out.rstrip() if edits else out


def make_negated(report: str, finding: str, *, seed: int = 0, strict: bool = False) -> str:
    """r^n: :func:`make_omitted` plus one negative statement about ``finding`` at the beginning, middle or end.

    The statement denies the finding as the report states it (``vocab.NEGATION_SUBTYPES``, from the positive
    mentions: "No interstitial opacities.", "There is no rib fracture.", "No PICC line."); a statement the report
    already contains is never chosen. The statement and the position are drawn from ``random.Random`` seeded with
    ``seed``, the finding and the report, so a given (report, finding, seed) always gives the same r^n while
    different reports vary.

    r^n is a hard negative only for a finding the report asserts as **positive**: that is what the callers that
    build hard negatives and CXR-Align cases pass (``label_report(report).positives()``). For any other finding
    the result is still defined: an uncertain finding's hedged statements are removed and the denial inserted; a
    denied or absent finding gets the denial inserted next to what the report says (nothing is removed), i.e. a
    negative the original states or leaves implicit. ``strict=True`` refuses such findings instead.

    Raises:
        ValueError: unknown finding; with ``strict``, a finding the report does not assert as positive.
    """
    check_finding(finding)
    regions = label_regions(report)
    mentions = find_mentions(report, regions)
    label = aggregate([m for m in mentions if m.cls == finding])[0].get(finding)
    if strict and label != POSITIVE:
        raise ValueError(
            f"make_negated(strict=True) needs a finding the report asserts as positive; {finding!r} is "
            f"{label or 'not mentioned'} in this report (negate one of label_report(report).positives())"
        )
    omitted = _omit(report, finding, regions, mentions)
    rng = random.Random(f"{seed}\x00{finding}\x00{report}")
    statement = rng.choice(_choices(report, finding, mentions))
    where = rng.choice(("beginning", "middle", "end"))
    spans = [s for rs, re_ in label_regions(omitted) for s in sentence_spans(omitted, rs, re_)]
    if not spans:
        out_regions = label_regions(omitted)
        if out_regions and out_regions[0][0] < len(omitted):  # "FINDINGS:" with nothing after it
            pos = out_regions[0][0]
            return (omitted[:pos].rstrip() + " " + statement + " " + omitted[pos:].lstrip()).strip()
        return (omitted.rstrip() + " " + statement).strip()
    # a statement goes only after a full stop (or a header) and a space: not into "effusion.Heart size" nor into
    # "unremarkable  The" (a sentence break without a full stop)
    starts = [a for i, (a, _) in enumerate(spans) if i > 0 and omitted[a - 1].isspace() and _ended(omitted, a)]
    if where == "beginning":
        pos = spans[0][0]
    elif where == "middle" and starts:
        pick = spans[rng.randrange(1, len(spans))][0]
        pos = next((a for a in starts if a >= pick), starts[-1])
    elif omitted[spans[-1][1] - 1] in ".!?":
        pos = spans[-1][1]
        return omitted[:pos] + " " + statement + omitted[pos:]
    else:  # "No effusion" without a full stop: the statement goes before it, not into it
        pos = starts[-1] if starts else spans[0][0]
    return omitted[:pos] + statement + " " + omitted[pos:]


_HEADER_END_RE = re.compile(r"\b[A-Z][A-Z ]*:$")


def _ended(text: str, pos: int) -> bool:
    """Whether a statement may go at ``pos``: the text before it ends with a full stop, possibly before a header
    ("... normal. IMPRESSION:"), or is empty; "unremarkable IMPRESSION:" and "unremarkable  The" run on."""
    head = text[max(0, pos - 80) : pos].rstrip()
    if head.endswith(":"):
        header = _HEADER_END_RE.search(head)
        if header is None:
            return False
        head = head[: header.start()].rstrip()
        if not head:
            return not text[: max(0, pos - 80)].strip()
    return not head or head[-1] in ".!?"


def mention_phrase(text: str, m: Mention) -> str:
    """The words around a mention that say what kind of finding it is (lower case, within its sentence): up to
    four words before it and three after ("healed left posterior rib fractures", "xxxx tip in the svc")."""
    start, end = m.evidence[0]
    left = re.split(r"[.;:!?\n]", text[max(0, start - 50) : start])[-1]
    right = re.split(r"[.;:!?\n,]", text[end : end + 30])[0]
    before = " ".join(left.split()[-4:])
    after = " ".join(right.split()[:3])
    return f"{before} {text[start:end]} {after}".lower().strip()


def _choices(report: str, finding: str, mentions: list[Mention]) -> tuple[str, ...]:
    own = [m for m in mentions if m.cls == finding]
    positives = [m for m in own if m.polarity == POSITIVE] or [m for m in own if m.polarity != NEGATIVE]
    if not positives:
        chosen = _statements_for_phrase(finding, "")
        return tuple(x for x in chosen if x.lower().rstrip(".") not in " ".join(report.lower().split())) or chosen
    if finding == "Support Devices":
        phrase = "\x00".join(_mention_words(report, m) for m in positives)
    else:
        kinds = {_subtype(finding, _mention_words(report, m)) for m in positives}
        # the subtype from the mention's own words, the bone from the words around it; mixed subtypes ("nodule"
        # and "mass") get the finding's general statements
        phrase = mention_phrase(report, positives[0]) if len(kinds) == 1 else ""
        if len(kinds) == 1 and finding != "Fracture":
            phrase = _mention_words(report, positives[0])
    low = " ".join(lower_same_length(report).split())
    chosen = _statements_for_phrase(finding, phrase)
    if "air space" in low:  # the report's spelling
        chosen = tuple(x.replace("airspace", "air space").replace("Airspace", "Air space") for x in chosen)
    fresh = tuple(x for x in chosen if x.lower().rstrip(".") not in low)  # never restate the original
    return fresh or chosen


def _mention_words(text: str, m: Mention) -> str:
    """The mention and the word right before it, lower case ("interstitial opacities", "patchy infiltrate")."""
    start, end = m.evidence[0]
    before = re.split(r"[.;:!?,/\n]", text[max(0, start - 30) : start])[-1].split()[-1:]  # "scarring/" is no modifier
    return " ".join([*before, text[start:end]]).lower()


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
        raise UserError(f"no report among the {len(pool)} in the pool has exactly one positive finding")
    return pool[random.Random(seed).choice(eligible)]
