"""Single-finding statements: temporal-statement removal, multi-finding sentence splitting, ``clean_report``.

Stands in for the LLM rewriting of Ko & Park (Sec. 3): reports are reduced to FINDINGS + IMPRESSION, split into
sentences, sentences carrying several findings are split where the grammar allows, and temporal / comparison
information is removed. Every rewrite is checked with the labeler: a sentence is only replaced when the labels of
its rewrite equal its own, so the rewriting never changes what the report says about the 13 findings.
"""

from __future__ import annotations

import re

from cxrvlp.text import vocab
from cxrvlp.text.labeler import CUE_RE, Mention, aggregate, find_mentions, lower_same_length
from cxrvlp.text.lexicon import alternation
from cxrvlp.text.sections import extract_sections, split_sentences

TEMPORAL_RE = re.compile(r"(?<!\w)(?:" + alternation(vocab.TEMPORAL) + r")(?!\w)", re.IGNORECASE)
_DEPENDENT_RE = re.compile(
    r"(?:which|that|likely|probably|possibly|may|might|could|suggest\w*|consistent|compatible|represent\w*|"
    r"reflect\w*|concerning|versus|or|due|related|secondary)\b",
    re.IGNORECASE,
)
"""Words that open a clause depending on the previous one: no statement split before them."""
_DEPENDENT_WORD_RE = re.compile(r"\b" + _DEPENDENT_RE.pattern, re.IGNORECASE)
SEP_RE = re.compile(r"(?:,? (?:and/or|and|or|nor) |, |/)")
_NEG_LIST_CUES = ("pre_neg",)


def sentence_mentions(sentence: str) -> list[Mention]:
    """The mentions of one sentence read as a whole (no section restriction)."""
    return find_mentions(sentence, [(0, len(sentence))])


def sentence_labels(sentence: str) -> dict[str, str]:
    """Labels of one sentence from its mentions (no "No Finding"), CheXpert aggregation."""
    return aggregate(sentence_mentions(sentence))[0]


def tidy(text: str) -> str:
    """Normalise whitespace and punctuation left by deletions; capitalise; end with a period."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"^[\s,;:.]+|[\s,;:]+$", "", text)
    text = re.sub(r"\b(a|an|the|of|with|and|or|in|on|to|from|since|than|for)\s*([,.;:]|$)", r"\2", text)
    text = re.sub(r"[\s,;:]+\.", ".", text).strip(" ,;:")
    if not text or not any(ch.isalnum() for ch in text):
        return ""
    if text[-1] not in ".!?":
        text += "."
    return text[0].upper() + text[1:]


_LEADING_LINK_RE = re.compile(
    r"^(?:(?:and|with|as well as|along with|associated(?: with)?|accompanied by|plus|also)\s+)+", re.IGNORECASE
)
_CONTENT_RE = re.compile(r"(?<!\w)(?:" + alternation(vocab.OBSERVATION_WORDS) + r")(?!\w)", re.IGNORECASE)
"""Words that make a sentence more than a comparison even when the labeler finds none of the 13 findings in it
("Stable calcified granuloma within the lingula.", "Large hiatal hernia, increased in size from prior exam.")."""


_TRAILING_LINK_RE = re.compile(
    r"(?:[\s,]+(?:most|likely|probably|possibly|consistent|compatible|suggestive|concerning|suspicious|worrisome|"
    r"representing|reflecting|which|that|may|could|might|represent|reflect|suggest(?:ing|s)?|with|of|for|and|or))+"
    r"[\s,]*(?=[.!?]?$)",
    re.IGNORECASE,
)
_REPEATED_XXXX_RE = re.compile(r"\bXXXX(?:\s+XXXX)+\b")
DEPENDENT_START_RE = re.compile(
    r"^(?:which|that|who|whom|concerning|suspicious|suggest\w*|consistent|compatible|represent\w*|reflect\w*|"
    r"likely|probably|possibly|may|might|could|most|due|related|secondary|and|or|with|of|but|to|in|on|at|without|"
    r"for|from|by|as|than|versus|vs|is|are|was|were|has|have)\b",
    re.IGNORECASE,
)
"""A rewritten statement starting with one of these words depends on a clause that was cut away."""


def fluent(part: str) -> str:
    """A statement cut out of a longer sentence, readable on its own: leading "with" / "and" / "associated" and
    trailing "consistent with" dropped, repeated ``XXXX`` collapsed, tidied ("with associated small effusions" ->
    "Small effusions.")."""
    text = _LEADING_LINK_RE.sub("", part.strip())
    text = _TRAILING_LINK_RE.sub("", text)
    return tidy(_REPEATED_XXXX_RE.sub("XXXX", text))


def strip_temporal(sentence: str) -> str:
    """Remove temporal / comparison phrases ("stable", "unchanged from prior", "again seen", "interval ...",
    "increased in size from prior exam"), keeping what the sentence says about findings.

    Each phrase is removed only when the sentence's labels stay the same without it ("Stable calcified granuloma
    within the lingula." -> "Calcified granuloma within the lingula."; "Interval resolution of the effusion." ->
    "Resolution of the effusion.").

    Returns:
        The sentence without them; ``""`` when it was only a comparison (no finding and no other observation
        left: "Unchanged from prior.", "No change."), the sentence unchanged when it has no temporal phrase.
    """
    matches = list(TEMPORAL_RE.finditer(sentence))
    if not matches:
        return sentence
    before = sentence_labels(sentence)
    out = sentence
    for m in reversed(matches):  # right to left: earlier offsets stay valid
        cand = out[: m.start()] + " " + out[m.end() :]
        if sentence_labels(cand) == before:  # also for a sentence without findings: no phrase may add one
            out = cand
    stripped = tidy(out)
    if not before and (not stripped or _CONTENT_RE.search(stripped) is None):
        return ""
    return stripped or sentence


def _items(sentence: str, mentions: list[Mention]) -> list[tuple[int, int]] | None:
    """Item spans of a negated list ("no A, B or C is seen") or None when the sentence is not one."""
    low = lower_same_length(sentence)
    cues = [m for m in CUE_RE.finditer(low) if m.lastgroup != "pseudo"]
    if not cues or cues[0].lastgroup not in _NEG_LIST_CUES or cues[0].end() > mentions[0].start:
        return None
    if any(c.lastgroup not in ("pre_neg", "or", "slash") and c.start() < mentions[-1].end for c in cues[1:]):
        return None
    start = cues[0].end()
    seps = [m for m in SEP_RE.finditer(sentence, start, mentions[-1].end) if m.start() >= mentions[0].end]
    if not seps:
        return None
    items = []
    pos = start
    for sep in seps:
        items.append((pos, sep.start()))
        pos = sep.end()
    items.append((pos, mentions[-1].end))
    return items


def split_statement(sentence: str, *, mentions: list[Mention] | None = None) -> list[str]:
    """Split a sentence carrying several findings into single-finding statements where the grammar allows.

    "No effusion or pneumothorax is seen." -> ["No effusion is seen.", "No pneumothorax is seen."];
    "Cardiomegaly with small bilateral effusions." -> ["Cardiomegaly.", "Small bilateral effusions."].
    A split is kept only if every part is one sentence whose labels, aggregated, equal the sentence's labels.

    Args:
        sentence: one sentence.
        mentions: :func:`sentence_mentions` of ``sentence``, when the caller already has them.

    Returns:
        The statements (the sentence itself, tidied, when it cannot be split).
    """
    if mentions is None:
        mentions = sentence_mentions(sentence)
    if len({m.cls for m in mentions}) < 2:
        return [sentence]
    labels = aggregate(mentions)[0]
    items = _items(sentence, mentions)
    if items is not None:
        prefix, suffix = sentence[: items[0][0]], sentence[items[-1][1] :]
        parts = []
        for a, b in items:
            item = sentence[a:b].strip()
            cue = CUE_RE.match(lower_same_length(item))
            head = "" if cue is not None and cue.lastgroup == "pre_neg" else prefix.rstrip()  # "..., no definite X"
            parts.append(tidy(f"{head} {item} {suffix.lstrip()}"))
        if _same(parts, labels):
            return parts
    cuts = _clause_cuts(sentence, mentions)
    if cuts:
        starts = [0] + [e for _, e in cuts]
        ends = [s for s, _ in cuts] + [len(sentence)]
        parts = [fluent(sentence[a:b]) for a, b in zip(starts, ends, strict=True)]
        if _same(parts, labels):
            return parts
    return [sentence]


def _clause_cuts(sentence: str, mentions: list[Mention]) -> list[tuple[int, int]]:
    """Separator spans (", " / "; " / " and " / " with ") between mentions of different classes."""
    cuts: list[tuple[int, int]] = []
    for a, b in zip(mentions, mentions[1:], strict=False):
        if a.cls == b.cls or b.start < a.end:
            continue
        between = sentence[a.end : b.start]
        m = re.search(r"(?:;|,)? (?:and|with|as well as) (?:(?:a|an|the) )?|; |, ", between)
        if (
            m
            and not re.search(r"\b(?:or|versus|vs|no|not|without)\b", between)
            and not _DEPENDENT_RE.match(sentence, a.end + m.end())
            and not _DEPENDENT_WORD_RE.search(between[m.end() :])  # "..., the 8th ribs which may represent Y"
            and not between[m.end() :][:1].isdigit()
        ):
            cuts.append((a.end + m.start(), a.end + m.end()))
    return cuts


def _same(parts: list[str], labels: dict[str, str]) -> bool:
    if any(not p for p in parts) or any(len(split_sentences(p)) != 1 for p in parts):
        return False
    return aggregate([m for p in parts for m in sentence_mentions(p)])[0] == labels


def clean_report(text: str) -> str:
    """The text the models see: FINDINGS + IMPRESSION as single-finding statements, temporal statements removed.

    Steps: :func:`extract_sections` (text without headers counts as findings), :func:`split_sentences`,
    :func:`strip_temporal` on each sentence (pure comparison statements are dropped), :func:`split_statement`.
    Anonymisation tokens (``XXXX``) are kept as plain words; they never end a sentence nor form a mention.

    Returns:
        Statements joined by single spaces, each ending with a period ("" for an empty report).
    """
    sections = extract_sections(text)
    body = " ".join(s for s in (sections["findings"], sections["impression"]) if s)
    out: list[str] = []
    for sentence in split_sentences(body):
        kept = strip_temporal(sentence)
        if kept:
            out.extend(tidy(s) for s in split_statement(kept))
    return " ".join(s for s in out if s)
