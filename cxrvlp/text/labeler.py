"""Rule-based CheXpert-14 labeler: mentions, NegEx-style scoped negation / uncertainty, CheXpert aggregation.

Pipeline (one pass of each combined regex over the whole lower-cased report):

1. Restrict to FINDINGS / IMPRESSION when the report has section headers (:func:`sections.label_regions`).
2. Mentions: one regex for all direct mentions (``vocab.MENTIONS``, ``vocab.IGNORE`` consumed first) and one for the
   anatomy + size-cue mentions of Cardiomegaly / Enlarged Cardiomediastinum (``vocab.ANATOMY``, ``vocab.SIZE_CUES``).
3. Cues: one regex for pseudo-triggers, pre/post negation, pre/post uncertainty and scope terminators. A mention
   takes the polarity of the nearest cue whose scope reaches it: a pre-cue before it or a post-cue after it, in the
   same sentence, with no terminator in between, within ``_PRE_REACH`` / ``_POST_REACH`` characters.
4. Aggregation per class (CheXpert): positive if any mention is positive, else uncertain if any is uncertain, else
   negative. "No Finding" is positive when no other class except Support Devices is positive or uncertain, negative
   otherwise; a report with no words in its labelled sections gets no labels at all.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cxrvlp.text import vocab
from cxrvlp.text.lexicon import Lexicon
from cxrvlp.text.sections import label_regions, sentence_spans
from cxrvlp.types import CHEXPERT_CLASSES, UserError

POSITIVE, NEGATIVE, UNCERTAIN = "positive", "negative", "uncertain"
_RANK = {POSITIVE: 2, UNCERTAIN: 1, NEGATIVE: 0}
_PRE_REACH = 120  # characters a pre-cue's scope reaches forward
_POST_REACH = 60  # characters a post-cue's scope reaches backward
_OR_REACH = 30  # characters between "or" and the alternative after it
_ALT_REACH = {"or": _OR_REACH, "slash": 1}  # a slash joins the two words next to it only


def _group(name: str) -> str:
    return "g" + re.sub(r"\W", "_", name)


def _build_mention_lexicon() -> tuple[Lexicon, dict[str, tuple[tuple[str, ...], str]]]:
    # A phrase listed under several classes (e.g. "hydropneumothorax") becomes one group mapping to all of them;
    # each group also says what an affirmed mention of it is: positive (vocab.MENTIONS), only uncertain
    # (vocab.UNCERTAIN_MENTIONS) or a denial by its own words (vocab.NEGATED_MENTIONS).
    owners: dict[tuple[str, str], list[str]] = {}
    for hedged, lexicon in (
        (POSITIVE, vocab.MENTIONS),
        (UNCERTAIN, vocab.UNCERTAIN_MENTIONS),
        (NEGATIVE, vocab.NEGATED_MENTIONS),
    ):
        for cls, frags in lexicon.items():
            for frag in frags:
                owners.setdefault((frag, hedged), []).append(cls)
    by_key: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for (frag, hedged), classes in owners.items():
        by_key.setdefault((tuple(classes), hedged), []).append(frag)
    parts: list[tuple[str, list[str]]] = [("ignore", vocab.IGNORE)]
    groups: dict[str, tuple[tuple[str, ...], str]] = {}
    # Groups ordered by their longest fragment, so that at one position the longer phrase wins ("pleural effusion"
    # before "effusion", "nodular density" before "density").
    for i, (key, frags) in enumerate(sorted(by_key.items(), key=lambda kv: -max(map(len, kv[1])))):
        groups[f"m{i}"] = key
        parts.append((f"m{i}", frags))
    return Lexicon(parts), groups


MENTION_RE, _MENTION_GROUPS = _build_mention_lexicon()
ANATOMY_RE = Lexicon([(_group(c), f) for c, f in vocab.ANATOMY.items()])
_ANATOMY_CLASSES = {_group(c): vocab.ANATOMY_CLASSES[c] for c in vocab.ANATOMY}
SIZE_RE = Lexicon([("other", vocab.SIZE_OF_OTHER), *vocab.SIZE_CUES.items()])
CUE_RE = Lexicon(
    [
        ("pseudo", vocab.PSEUDO),
        ("lead_neg", vocab.LEADING_NEGATION),
        ("post_unc", vocab.POST_UNCERTAIN),
        ("post_neg", vocab.POST_NEGATION),
        ("alt", vocab.ALTERNATIVES),
        ("or", vocab.ALTERNATIVE_OR),
        ("slash", vocab.ALTERNATIVE_SLASH),
        ("pre_ind", vocab.PRE_INDICATION),
        ("pre_unc", vocab.PRE_UNCERTAIN),
        ("pre_neg", vocab.PRE_NEGATION),
        ("term", vocab.TERMINATORS),
    ],
    suffix=r"(?:(?<=\W)|(?!\w))",
)
"""Cue lexicon; at one position the earlier group wins (pseudo-triggers first, terminators last; a leading negation,
``vocab.LEADING_NEGATION``, is a pre-negation that wins over the post-negation spelt alike)."""
_CLAUSE_RE = re.compile(r"[,;:]| but | and the | however | with ")


@dataclass(frozen=True)
class Mention:
    """One mention of a class: its span in the report, its polarity and the spans supporting it."""

    cls: str
    start: int
    end: int
    polarity: str
    evidence: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LabeledReport:
    """Labels of one report.

    Attributes:
        text: the labelled report, unchanged.
        labels: CheXpert class -> ``"positive"`` | ``"negative"`` | ``"uncertain"``; unmentioned classes absent.
        evidence: class -> ``(start, end)`` character spans in ``text`` supporting the decision (mentions and
            their cues; empty for the derived "No Finding").
    """

    text: str
    labels: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def positives(self) -> list[str]:
        """Classes labelled positive, in ``CHEXPERT_CLASSES`` order, excluding "No Finding"."""
        return [c for c in CHEXPERT_CLASSES if c != "No Finding" and self.labels.get(c) == POSITIVE]


def lower_same_length(text: str) -> str:
    """``text.lower()`` with every character's offset preserved (characters whose lower case is longer stay)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def _polarity(
    start: int, end: int, cues: list[tuple[int, int, str]], cue_starts: list[int], bounds: list[int]
) -> tuple[str, tuple[int, int] | None]:
    """Polarity of the mention ``[start, end)`` from the nearest cue whose scope reaches it.

    ``bounds`` are sorted sentence and terminator offsets: two offsets share a scope iff they bisect alike.
    """
    seg = bisect.bisect_right(bounds, start)
    best: tuple[int, str, tuple[int, int]] | None = None
    indication: tuple[int, int] | None = None
    alternative: tuple[int, int] | None = None  # a bare "or" next to the mention: uncertain only if unscoped
    i = bisect.bisect_left(cue_starts, start) - 1
    while i >= 0:  # nearest pre-cue before the mention
        cs, ce, kind = cues[i]
        if start - ce > _PRE_REACH or kind == "term" or bisect.bisect_right(bounds, ce - 1) != seg:
            break
        if kind in ("or", "slash") and alternative is None and start - ce <= _ALT_REACH[kind]:
            alternative = (cs, ce)
        elif kind == "pre_ind" and indication is None:
            indication = (cs, ce)  # "to suggest": uncertain unless an earlier negation governs it
        elif kind == "pre_neg" or (kind in ("pre_unc", "alt") and indication is None):
            best = (start - ce, "neg" if kind == "pre_neg" else "unc", (cs, ce))
            break
        i -= 1
    if best is None and indication is not None:
        best = (start - indication[1], "unc", indication)
    j = bisect.bisect_left(cue_starts, end)
    while j < len(cues):  # nearest post-cue after the mention
        cs, ce, kind = cues[j]
        if cs - end > _POST_REACH or kind == "term" or bisect.bisect_right(bounds, cs) != seg:
            break
        if kind in ("or", "slash") and alternative is None and cs - end <= 2:
            alternative = (cs, ce)
        elif kind in ("post_neg", "post_unc") or (kind == "alt" and cs - end <= 2):
            if best is None or cs - end < best[0]:
                best = (cs - end, "neg" if kind == "post_neg" else "unc", (cs, ce))
            break
        j += 1
    if best is None:
        return (POSITIVE, None) if alternative is None else (UNCERTAIN, alternative)
    return (NEGATIVE if best[1] == "neg" else UNCERTAIN), best[2]


@dataclass(frozen=True)
class Scan:
    """One pass of the cue regex over a report: what polarity decisions and sentence membership need.

    Attributes:
        low: the lower-cased text (same offsets as the text).
        lo: start of the first labelled sentence; hi: end of the last one.
        sentences: flat sorted ``[start0, end0, start1, end1, ...]`` of the labelled sentences.
        bounds: sorted sentence and terminator offsets (two offsets share a scope iff they bisect alike).
        cues: ``(start, end, kind)`` of every cue but pseudo-triggers; cue_starts: their starts.
    """

    low: str
    lo: int
    hi: int
    sentences: list[int]
    bounds: list[int]
    cues: list[tuple[int, int, str]]
    cue_starts: list[int]

    def inside(self, offset: int) -> bool:
        """Whether ``offset`` lies in a labelled sentence."""
        return bisect.bisect_right(self.sentences, offset) % 2 == 1

    def polarity(self, start: int, end: int) -> tuple[str, tuple[int, int] | None]:
        """Polarity of the span ``[start, end)`` and the span of the cue deciding it (None when affirmed)."""
        return _polarity(start, end, self.cues, self.cue_starts, self.bounds)


def scan(text: str, regions: list[tuple[int, int]] | None = None) -> Scan | None:
    """Sentences and cues of ``text`` within ``regions`` (default: the labelled sections); None without any."""
    low = lower_same_length(text)
    regions = label_regions(text) if regions is None else regions
    sentences: list[int] = []
    for s, e in regions:
        for a, b in sentence_spans(low, s, e):
            sentences.append(a)
            sentences.append(b)
    if not sentences:
        return None
    lo, hi = sentences[0], sentences[-1]
    cues = [(m.start(), m.end(), m.lastgroup or "") for m in CUE_RE.finditer(low, lo, hi)]
    cues = [
        (c[0], c[1], "pre_neg") if c[2] == "lead_neg" else c
        for c in cues
        if c[2] != "pseudo" and not (c[2] == "term" and _in_list(low, c, sentences))
    ]
    bounds = sorted(sentences + [c[0] for c in cues if c[2] == "term"])
    return Scan(low, lo, hi, sentences, bounds, cues, [c[0] for c in cues])


_LIST_END_RE = re.compile(r",? (?:or|nor) ")


def _in_list(low: str, cue: tuple[int, int, str], sentences: list[int]) -> bool:
    """A ", large ..." terminator inside a list that goes on with "or" ("no consolidation, large effusion, or
    pneumothorax") is a list item, not the end of the negated clause."""
    if low[cue[0]] != ",":
        return False
    i = bisect.bisect_right(sentences, cue[0])
    end = sentences[i] if i < len(sentences) else len(low)
    return _LIST_END_RE.search(low, cue[1], end) is not None


def find_mentions(
    text: str, regions: list[tuple[int, int]] | None = None, *, scanned: Scan | None = None
) -> list[Mention]:
    """All mentions of the 13 finding classes in ``text`` (within ``regions``, default the labelled sections).

    Args:
        text: the report.
        regions: character regions to read (default :func:`sections.label_regions`).
        scanned: a :func:`scan` of the same text and regions, when the caller already has one.

    Returns:
        Mentions sorted by start offset.
    """
    sc = scanned if scanned is not None else scan(text, regions)
    if sc is None:
        return []
    mentions: list[Mention] = []
    direct: set[tuple[str, int]] = set()
    signs: list[tuple[Mention, int]] = []  # affirmed signs that only suggest a finding ("blunting of ..."), sentence
    denied: set[tuple[str, int]] = set()  # (class, sentence) with a denied mention
    for m in MENTION_RE.finditer(sc.low, sc.lo, sc.hi):
        group = m.lastgroup
        if group == "ignore" or group is None or not sc.inside(m.start()):
            continue
        classes, hedged = _MENTION_GROUPS[group]
        pol, cue = sc.polarity(m.start(), m.end())
        sign = pol == POSITIVE and hedged == UNCERTAIN
        if pol == POSITIVE:
            pol = hedged  # an affirmed sign that only suggests (uncertain) or itself denies (negative) the finding
        ev = ((m.start(), m.end()),) + ((cue,) if cue else ())
        seg = bisect.bisect_right(sc.bounds, m.start())
        sentence = bisect.bisect_right(sc.sentences, m.start())
        for cls in classes:
            mention = Mention(cls, m.start(), m.end(), pol, ev)
            if sign:
                signs.append((mention, sentence))
            else:
                mentions.append(mention)
            direct.add((cls, seg))
            if pol == NEGATIVE:
                denied.add((cls, sentence))
    # A sign next to a denial of its finding in the same sentence is explained by the report ("blunting of the
    # right costophrenic angle, without definite pleural effusion"): the denial decides.
    mentions.extend(m for m, sentence in signs if (m.cls, sentence) not in denied)
    anatomy = _anatomy_mentions(sc.low, sc.lo, sc.hi, sc.cues, sc.cue_starts, sc.bounds, direct)
    mentions.extend(m for m in anatomy if sc.inside(m.start))
    mentions.sort(key=lambda x: (x.start, x.cls))
    return mentions


def _anatomy_mentions(
    low: str,
    lo: int,
    hi: int,
    cues: list[tuple[int, int, str]],
    cue_starts: list[int],
    bounds: list[int],
    direct: set[tuple[str, int]],
) -> list[Mention]:
    """Cardiomegaly / Enlarged Cardiomediastinum from anatomy + size cue pairs within a clause."""
    anatomy = [
        (m.start(), m.end(), cls)
        for m in ANATOMY_RE.finditer(low, lo, hi)
        for cls in _ANATOMY_CLASSES[m.lastgroup or ""]
    ]
    if not anatomy:
        return []
    sizes = [(m.start(), m.end(), m.lastgroup or "") for m in SIZE_RE.finditer(low, lo, hi) if m.lastgroup != "other"]
    clause_bounds = sorted(set(bounds) | {m.start() for m in _CLAUSE_RE.finditer(low, lo, hi)})
    items = sorted([(s, e, "a", c) for s, e, c in anatomy] + [(s, e, "s", k) for s, e, k in sizes])
    out: list[Mention] = []
    pending: list[tuple[int, int, str]] = []
    leading: tuple[int, int, str] | None = None
    led_end = -1  # end of the last anatomy a leading cue sized ("normal heart size, mediastinal contours")
    clause = -1
    for s, e, kind, val in items:
        c = bisect.bisect_right(clause_bounds, s)
        if c != clause:
            if pending and _list_goes_on(low, pending[-1][1], s):  # "the heart, XXXX and mediastinum are"
                pass
            elif not (
                leading is not None
                and leading[2] == NEGATIVE  # a denial runs down a list; an enlargement names its own anatomy
                and kind == "a"
                and led_end >= 0
                and _list_goes_on(low, led_end, s)
            ):
                pending, leading = [], None
            clause = c
        if kind == "a":
            if leading is not None:
                out.append(_size_mention(val, s, e, leading, cues, cue_starts, bounds))
                led_end = e
            else:
                pending.append((s, e, val))
        elif pending:
            out.extend(_size_mention(cls, a, b, (s, e, val), cues, cue_starts, bounds) for a, b, cls in pending)
            pending, leading = [], None
        else:
            leading = (s, e, val)
    return [m for m in out if (m.cls, bisect.bisect_right(bounds, m.start)) not in direct]


_LIST_VERB_RE = re.compile(r"[;:.]|\b(?:is|are|was|were|appears?|seems?|shows?|remains?|lungs?|with|without|no)\b")
_TRAILING_VERB_RE = re.compile(r"\b(?:is|are|appears?|appear to be|remains?)(?: \w+)?\s*$")


def _list_goes_on(low: str, end: int, start: int) -> bool:
    """Whether the anatomy ending at ``end`` and the item at ``start`` are one comma list ("the heart,
    mediastinum, XXXX are normal"): short, only commas and list words between, the verb only right before the item."""
    between = low[end:start]
    if len(between) > 60 or "," not in between:
        return False
    return _LIST_VERB_RE.search(_TRAILING_VERB_RE.sub("", between)) is None


def _size_mention(
    cls: str,
    s: int,
    e: int,
    cue: tuple[int, int, str],
    cues: list[tuple[int, int, str]],
    cue_starts: list[int],
    bounds: list[int],
) -> Mention:
    cs, ce, kind = cue
    pol = kind  # vocab.SIZE_CUES is keyed by polarity: "positive" / "negative" / "uncertain"
    ev: tuple[tuple[int, int], ...] = ((s, e), (cs, ce))
    if pol == POSITIVE:  # "may be enlarged", "no definite enlargement": the size cue itself can be in a scope
        scoped, trig = _polarity(cs, ce, cues, cue_starts, bounds)
        if trig is not None:
            pol, ev = scoped, ev + (trig,)
    return Mention(cls, min(s, cs), max(e, ce), pol, ev)


def aggregate(mentions: list[Mention]) -> tuple[dict[str, str], dict[str, list[tuple[int, int]]]]:
    """CheXpert aggregation of mentions into per-class labels and evidence (no "No Finding")."""
    labels: dict[str, str] = {}
    evidence: dict[str, list[tuple[int, int]]] = {}
    for m in mentions:
        old = labels.get(m.cls)
        if old is None or _RANK[m.polarity] > _RANK[old]:
            labels[m.cls] = m.polarity
            evidence[m.cls] = list(m.evidence)
        elif _RANK[m.polarity] == _RANK[old]:
            evidence[m.cls].extend(m.evidence)
    return labels, evidence


def no_finding(labels: Mapping[str, str]) -> str:
    """CheXpert's rule: "positive" when no class other than Support Devices is positive or uncertain."""
    abnormal = any(v in (POSITIVE, UNCERTAIN) for c, v in labels.items() if c not in ("No Finding", "Support Devices"))
    return NEGATIVE if abnormal else POSITIVE


def label_report(text: str) -> LabeledReport:
    """Label a free-text report with the 14 CheXpert classes.

    Args:
        text: a report (any section layout; with headers only FINDINGS and IMPRESSION are read).

    Returns:
        A :class:`LabeledReport` whose ``labels`` hold every mentioned class plus "No Finding" (CheXpert's rule),
        in ``CHEXPERT_CLASSES`` order; a report without a word in its labelled sections has no labels.
    """
    regions = label_regions(text)
    if not any(ch.isalnum() for s, e in regions for ch in text[s:e]):
        return LabeledReport(text, {}, {})
    labels, evidence = aggregate(find_mentions(text, regions))
    labels["No Finding"] = no_finding(labels)
    evidence["No Finding"] = []
    order = {c: i for i, c in enumerate(CHEXPERT_CLASSES)}
    keys = sorted(labels, key=order.__getitem__)
    return LabeledReport(text, {k: labels[k] for k in keys}, {k: sorted(set(evidence[k])) for k in keys})


def positive_pathologies(labels: Mapping[str, str]) -> list[str]:
    """The positive classes that count as pathologies, in ``CHEXPERT_CLASSES`` order.

    "No Finding" and Support Devices do not count: a normal study with a pacemaker is still normal. This is what
    "abnormal report" (at least one) and "single-finding report" (exactly one) mean for hard negatives.
    """
    return [c for c in CHEXPERT_CLASSES if c not in ("No Finding", "Support Devices") and labels.get(c) == POSITIVE]


CLINICAL_VALUES: dict[str, float] = {POSITIVE: 1.0, UNCERTAIN: 0.5, NEGATIVE: 0.0}
"""Encoding of the clinical vector C (see :func:`clinical_vector`)."""


def clinical_vector(labels: Mapping[str, str]) -> list[float]:
    """The clinical-label vector C of the soft-label loss (Ko & Park Eq. 8), length 14, ``CHEXPERT_CLASSES`` order.

    Encoding: positive = 1.0, uncertain = 0.5, negative = 0.0, absent = 0.0. "No Finding" is recomputed from the
    other classes with CheXpert's rule (1.0 when no class other than Support Devices is positive or uncertain),
    whatever the mapping says about it.

    Why: the loss compares reports by the cosine of their L2-normalised C vectors. Negative and absent both mean
    "not in this image", so they must encode alike (a report that says "no pneumothorax" and one that does not
    mention it describe the same image); -1 for negative would make two normal reports dissimilar only because
    one lists more negations. Uncertain findings are half-present (between CheXpert's U-Ones and U-Zeros), so a
    report with "possible pneumonia" is partly similar to one with pneumonia and to one without. Recomputing "No
    Finding" makes the vector never all-zero: either some finding is positive/uncertain, or "No Finding" is 1.0
    (this holds for the empty mapping too), so L2 normalisation is always defined.

    Args:
        labels: class -> polarity (e.g. ``LabeledReport.labels``); unknown class names raise ``ValueError``.

    Returns:
        14 floats.
    """
    unknown = [c for c in labels if c not in CHEXPERT_CLASSES]
    if unknown:
        raise UserError(f"unknown CheXpert class(es) {unknown}; valid names: {', '.join(CHEXPERT_CLASSES)}")
    bad = [v for v in labels.values() if v not in CLINICAL_VALUES]
    if bad:
        raise UserError(f"unknown polarity {bad[0]!r}; valid: {', '.join(CLINICAL_VALUES)}")
    vec = [CLINICAL_VALUES.get(labels.get(c, NEGATIVE), 0.0) for c in CHEXPERT_CLASSES]
    vec[0] = 1.0 if no_finding(labels) == POSITIVE else 0.0
    return vec


def check_finding(finding: str) -> str:
    """Return ``finding`` if it is one of the 13 findings (not "No Finding"), else raise ``ValueError`` listing them."""
    if finding not in vocab.FINDINGS:
        raise UserError(f"unknown finding {finding!r}; valid names: {', '.join(vocab.FINDINGS)}")
    return finding
