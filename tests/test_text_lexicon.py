"""The first-character dispatch of Lexicon must match exactly what one combined regex matches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxrvlp.text import vocab
from cxrvlp.text.labeler import CUE_RE, MENTION_RE
from cxrvlp.text.lexicon import Lexicon, alternation, first_chars


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("edema", {"e"}),
        ("(?:pulmonary |interstitial )?edema", {"p", "i", "e"}),
        ("[ab]c|d", {"a", "b", "d"}),
        ("x?", None),  # can match empty
        (r"\w+", None),  # unknown set
    ],
)
def test_first_chars(fragment: str, expected: set[str] | None) -> None:
    assert first_chars(fragment) == expected


def _reference(groups: list[tuple[str, list[str]]], suffix: str, lead: str) -> re.Pattern[str]:
    body = "|".join(f"(?P<{n}>{alternation(f)})" for n, f in groups if f)
    return re.compile(f"{lead}(?:{body}){suffix}")


MENTION_GROUPS = [("ignore", vocab.IGNORE), *((f"g{i}", f) for i, f in enumerate(vocab.MENTIONS.values()))]
WORDS = [
    "no",
    "pleural",
    "effusion",
    "or",
    "pneumothorax",
    ",",
    "mild",
    "heart",
    "size",
    "normal",
    "may",
    "be",
    "atelectasis",
    "versus",
    "scarring",
    ".",
    "not",
    "excluded",
    "xxxx",
    "opacity",
    "nodular",
    "density",
    "?",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=30))
def test_lexicon_equals_combined_regex(words: list[str]) -> None:
    text = " ".join(words)
    lex = Lexicon(MENTION_GROUPS)
    ref = _reference(MENTION_GROUPS, r"\b", r"\b")
    assert [(m.span(), m.lastgroup) for m in lex.finditer(text)] == [
        (m.span(), m.lastgroup) for m in ref.finditer(text)
    ]


def test_module_lexicons_find_known_phrases() -> None:
    text = "no pleural effusion, mild cardiomegaly; cannot be excluded"
    assert [text[m.start() : m.end()] for m in MENTION_RE.finditer(text)] == ["pleural effusion", "cardiomegaly"]
    assert [(m.group(0), m.lastgroup) for m in CUE_RE.finditer(text)] == [
        ("no", "pre_neg"),
        (", mild", "term"),
        (";", "term"),
        ("cannot be excluded", "post_unc"),
    ]
