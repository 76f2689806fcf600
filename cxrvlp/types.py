"""Plain data types shared by every layer (pure Python, no torch).

``ReportGraph`` is the contract between the text engine (``cxrvlp.text.graph.extract_graph`` builds it) and the
model (``cxrvlp.models.graph.GraphEncoder`` embeds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ProgressFn = Callable[[int, int], None]
"""``on_progress(done, total)``: progress of one stage (embedding, a sweep, training steps)."""
StageProgressFn = Callable[[str, int, int], None]
"""``on_progress(stage, done, total)``: progress of work in named stages (preprocessing: labels, graphs, ...)."""

CHEXPERT_CLASSES: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
"""The 14 CheXpert / CheXbert classes, in CheXbert's order. ``clinical`` vectors follow this order."""

Polarity = Literal["positive", "negative", "uncertain"]
NodeKind = Literal["anatomy", "observation"]
NodeStatus = Literal["present", "absent", "uncertain", ""]
Relation = Literal["located_at", "modify", "suggestive_of"]


class UserError(ValueError):
    """Bad input, or a model that cannot do what was asked: the message tells the user what to fix.

    The one error type user interfaces show as a single line (``cxrvlp`` exits with code 2, the app shows
    ``st.error``); any other exception is a bug and keeps its traceback. Subclasses keep the built-in type code
    used to catch (``ValueError``; :class:`UnsupportedError` is also a ``NotImplementedError``,
    :class:`UnknownNameError` a ``KeyError``).
    """


class UnsupportedError(UserError, NotImplementedError):
    """This model (adapter, encoder) cannot do the requested analysis, e.g. head ablation on open_clip."""


class UnknownNameError(UserError, KeyError):
    """A name (preset, loss, task, ...) that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class GraphNode:
    """One entity of a report graph.

    Attributes:
        text: the entity's words as written in the report (lower-cased), e.g. ``"pleural effusion"``.
        kind: ``"anatomy"`` or ``"observation"``.
        status: for observations ``"present"``, ``"absent"`` or ``"uncertain"``; ``""`` for anatomy.
        start: character offset of the entity in the text it was extracted from (-1 when unknown).
        end: end offset (exclusive), -1 when unknown.
    """

    text: str
    kind: NodeKind
    status: NodeStatus = ""
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class GraphEdge:
    """A directed relation ``src -> dst`` between node indices."""

    src: int
    dst: int
    relation: Relation


@dataclass(frozen=True)
class ReportGraph:
    """RadGraph-style entity graph of one report. An empty report gives a graph with no nodes."""

    nodes: tuple[GraphNode, ...] = field(default_factory=tuple)
    edges: tuple[GraphEdge, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "nodes": [
                {"text": n.text, "kind": n.kind, "status": n.status, "start": n.start, "end": n.end} for n in self.nodes
            ],
            "edges": [{"src": e.src, "dst": e.dst, "relation": e.relation} for e in self.edges],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ReportGraph:
        return cls(
            nodes=tuple(GraphNode(**n) for n in d.get("nodes", ())),
            edges=tuple(GraphEdge(**e) for e in d.get("edges", ())),
        )
