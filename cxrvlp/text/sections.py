"""Report sections and sentences: FINDINGS / IMPRESSION extraction and a span-preserving sentence splitter.

Works on Open-I (``"FINDINGS: ... IMPRESSION: ..."``) and MIMIC-CXR style reports (upper-case headers followed by a
colon, any other header such as ``INDICATION:`` ends the previous section). Text without any header is all findings.
Numbered impression items (``"1. ... 2. ..."``) are split into sentences and their numbers dropped; decimals
(``"1.5 cm"``) and anonymisation tokens (``XXXX``) never end a sentence.
"""

from __future__ import annotations

import re

_KEEP = {"FINDINGS": "findings", "FINDING": "findings", "IMPRESSION": "impression", "IMPRESSIONS": "impression"}
_KEEP.update({"CONCLUSION": "impression", "CONCLUSIONS": "impression", "SUMMARY": "impression"})

HEADER_RE = re.compile(
    r"(?<![A-Za-z])(FINDINGS?|IMPRESSIONS?|CONCLUSIONS?|SUMMARY|INDICATIONS?|"
    r"CLINICAL (?:HISTORY|INDICATION|INFORMATION)|HISTORY|COMPARISONS?|TECHNIQUE|EXAM(?:INATION)?|"
    r"REASON FOR (?:EXAM(?:INATION)?|STUDY)|NOTIFICATION|"
    r"RECOMMENDATIONS?|WET READ|FINAL REPORT|PROCEDURE|TYPE OF EXAMINATION|ADDENDUM)\s*:",
    re.IGNORECASE,
)
"""A section header: a known name followed by a colon."""

_BOUNDARY_RE = re.compile(r"(?:(?<![0-9])\.(?![0-9])|[!?])+|\n[ \t]*\n|(?:^|(?<=\s))\d{1,2}[.)](?=\s)", re.MULTILINE)


def section_regions(text: str) -> list[tuple[str, int, int]]:
    """Character regions of the report's sections.

    Returns:
        ``[(name, start, end), ...]`` with name ``"findings"``, ``"impression"`` or ``"other"``, in text order,
        headers excluded. Text without headers gives one ``"findings"`` region spanning the whole text.
    """
    headers = list(HEADER_RE.finditer(text))
    if not headers:
        return [("findings", 0, len(text))]
    regions = []
    if text[: headers[0].start()].strip():
        regions.append(("other", 0, headers[0].start()))
    for i, h in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        regions.append((_KEEP.get(h.group(1).upper(), "other"), h.end(), end))
    return regions


def label_regions(text: str) -> list[tuple[int, int]]:
    """The FINDINGS and IMPRESSION regions (what the labeler reads), in text order."""
    return [(s, e) for name, s, e in section_regions(text) if name != "other"]


def extract_sections(text: str) -> dict[str, str]:
    """Split a report into its FINDINGS and IMPRESSION text.

    Args:
        text: a free-text report.

    Returns:
        ``{"findings": str, "impression": str}``, each whitespace-normalised and possibly ``""``. Text without any
        header is returned entirely as findings; repeated sections are joined.
    """
    out: dict[str, list[str]] = {"findings": [], "impression": []}
    for name, s, e in section_regions(text):
        if name in out:
            chunk = " ".join(text[s:e].split())
            if chunk:
                out[name].append(chunk)
    return {k: " ".join(v) for k, v in out.items()}


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text[start:end]`` (terminal punctuation included, whitespace and list numbers
    excluded); segments without a letter or digit are skipped."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for m in _BOUNDARY_RE.finditer(text, start, end):
        is_number = m.group(0)[0].isdigit()
        seg_end = m.start() if is_number or m.group(0)[0] == "\n" else m.end()
        _append_span(text, pos, seg_end, spans)
        pos = m.end()
    _append_span(text, pos, end, spans)
    return spans


def _append_span(text: str, s: int, e: int, spans: list[tuple[int, int]]) -> None:
    while s < e and (text[s].isspace() or text[s] in ".,;:!?"):
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if s < e and any(ch.isalnum() for ch in text[s:e]):
        spans.append((s, e))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences (section headers removed, whitespace normalised).

    >>> split_sentences("FINDINGS: No effusion. Heart size 1.5 cm. IMPRESSION: 1. Normal chest x-XXXX. 2. Clear.")
    ['No effusion.', 'Heart size 1.5 cm.', 'Normal chest x-XXXX.', 'Clear.']
    """
    regions = section_regions(text)
    out = []
    for _, s, e in regions:
        out.extend(" ".join(text[a:b].split()) for a, b in sentence_spans(text, s, e))
    return out
