"""RadGraph-like report graphs (Ko & Park Sec. 4.3): entities and relations from lexicons, no learning.

Nodes (:class:`cxrvlp.types.GraphNode`), per mention in the labelled sections:

* ``anatomy``: anatomy words with their laterality / position prefix ("left lower lobe", "heart").
* ``observation`` with status ``present`` / ``absent`` / ``uncertain``: the 13 findings' mentions (status from the
  labeler's cue scopes), other observations ("granuloma", "normal", "clear"), size cues of the Cardiomegaly /
  Enlarged Cardiomediastinum anatomy mentions ("enlarged", "normal"), and modifiers ("mild", "patchy").

Edges (:class:`cxrvlp.types.GraphEdge`), within one sentence:

* ``located_at``: observation -> the nearest anatomy in its clause (size cues -> the anatomy they describe).
* ``modify``: modifier -> the next observation within three words.
* ``suggestive_of``: observation -> the next observation when a cue such as "suggestive of", "may represent" or
  "consistent with" lies between them.
"""

from __future__ import annotations

import bisect
import re

from cxrvlp.text import vocab
from cxrvlp.text.labeler import NEGATIVE, POSITIVE, find_mentions, scan
from cxrvlp.text.lexicon import Lexicon, alternation
from cxrvlp.text.sections import label_regions
from cxrvlp.types import GraphEdge, GraphNode, ReportGraph

GRAPH_ANATOMY_RE = Lexicon([("anatomy", [vocab.GRAPH_LOCATION_PREFIX + alternation(vocab.GRAPH_ANATOMY)])])
GRAPH_OBS_RE = Lexicon([("observation", vocab.GRAPH_OBSERVATIONS)])
MODIFIER_RE = Lexicon([("modifier", vocab.GRAPH_MODIFIERS)])
SUGGESTIVE_RE = re.compile(r"\b" + alternation(vocab.GRAPH_SUGGESTIVE) + r"\b")
_CLAUSE_RE = re.compile(r"[,;:]| but | and the | however | which ")
_STATUS = {POSITIVE: "present", NEGATIVE: "absent"}
_NEGATED_SIZE = re.compile(r"\b(?:not|no|without)\b")


def _status(polarity: str) -> str:
    return _STATUS.get(polarity, "uncertain")


def extract_graph(text: str) -> ReportGraph:
    """Extract the entity / relation graph of a report.

    Args:
        text: a free-text report (with headers only FINDINGS and IMPRESSION are read).

    Returns:
        A :class:`ReportGraph`; node offsets index ``text``; an empty report gives a graph with no nodes.
    """
    regions = label_regions(text)
    sc = scan(text, regions)
    if sc is None:
        return ReportGraph()
    low = sc.low
    spans: dict[tuple[int, int], GraphNode] = {}

    def add(start: int, end: int, kind: str, status: str) -> None:
        if (start, end) not in spans and sc.inside(start):
            spans[(start, end)] = GraphNode(low[start:end], kind, status, start, end)  # type: ignore[arg-type]

    size_links: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for m in find_mentions(text, regions, scanned=sc):
        if m.end - m.start == m.evidence[0][1] - m.evidence[0][0]:  # a direct mention
            add(m.start, m.end, "observation", _status(m.polarity))
        else:  # anatomy + size cue: the cue is the observation, located at the anatomy
            anat, cue = m.evidence[0], m.evidence[1]
            negated = _NEGATED_SIZE.search(low, cue[0], cue[1]) is not None
            status = "absent" if negated else ("uncertain" if m.polarity == "uncertain" else "present")
            add(cue[0], cue[1], "observation", status)
            size_links.append((cue, anat))
    for s, e in (a for _, a in size_links):
        add(s, e, "anatomy", "")
    taken = sorted(spans)
    for m in GRAPH_ANATOMY_RE.finditer(low, sc.lo, sc.hi):
        if not _overlaps(taken, m.start(), m.end()):
            add(m.start(), m.end(), "anatomy", "")
    taken = sorted(spans)
    for m in GRAPH_OBS_RE.finditer(low, sc.lo, sc.hi):
        if not _overlaps(taken, m.start(), m.end()):
            add(m.start(), m.end(), "observation", _status(sc.polarity(m.start(), m.end())[0]))
    taken = sorted(spans)
    for m in MODIFIER_RE.finditer(low, sc.lo, sc.hi):
        if not _overlaps(taken, m.start(), m.end()):
            add(m.start(), m.end(), "observation", "")
    keys = sorted(spans)
    index = {k: i for i, k in enumerate(keys)}
    nodes = [spans[k] for k in keys]
    edges = _relations(low, sc, nodes, index, size_links)
    # modifiers take the status of the observation they modify
    for e in edges:
        if e.relation == "modify" and nodes[e.src].status == "":
            nodes[e.src] = GraphNode(
                nodes[e.src].text, "observation", nodes[e.dst].status or "present", nodes[e.src].start, nodes[e.src].end
            )
    nodes = [
        n if n.kind == "anatomy" or n.status else GraphNode(n.text, n.kind, "present", n.start, n.end) for n in nodes
    ]
    return ReportGraph(tuple(nodes), tuple(edges))


def _overlaps(sorted_spans: list[tuple[int, int]], start: int, end: int) -> bool:
    i = bisect.bisect_left(sorted_spans, (start, start))
    for j in (i - 1, i):
        if 0 <= j < len(sorted_spans) and sorted_spans[j][0] < end and start < sorted_spans[j][1]:
            return True
    return False


def _relations(low, sc, nodes, index, size_links) -> list[GraphEdge]:
    edges: list[GraphEdge] = []
    seen: set[tuple[int, int, str]] = set()

    def link(src: int, dst: int, rel: str) -> None:
        if src != dst and (src, dst, rel) not in seen:
            seen.add((src, dst, rel))
            edges.append(GraphEdge(src, dst, rel))  # type: ignore[arg-type]

    for cue, anat in size_links:
        if cue in index and anat in index:
            link(index[cue], index[anat], "located_at")
    clause_bounds = sorted(set(sc.sentences) | {m.start() for m in _CLAUSE_RE.finditer(low, sc.lo, sc.hi)})
    sentence_of = [bisect.bisect_right(sc.sentences, n.start) for n in nodes]
    clause_of = [bisect.bisect_right(clause_bounds, n.start) for n in nodes]
    sized = {index[c] for c, _ in size_links if c in index}
    modifiers = {i for i, n in enumerate(nodes) if n.kind == "observation" and n.status == ""}
    for i, n in enumerate(nodes):
        if n.kind != "observation":
            continue
        if i in modifiers:
            nxt = next(
                (
                    j
                    for j in range(i + 1, len(nodes))
                    if nodes[j].kind == "observation" and j not in modifiers and sentence_of[j] == sentence_of[i]
                ),
                None,
            )
            if nxt is not None and len(low[n.end : nodes[nxt].start].split()) <= 3:
                link(i, nxt, "modify")
            continue
        if i not in sized:
            anat = [j for j, a in enumerate(nodes) if a.kind == "anatomy" and clause_of[j] == clause_of[i]]
            if anat:
                j = min(anat, key=lambda j: min(abs(nodes[j].start - n.end), abs(n.start - nodes[j].end)))
                link(i, j, "located_at")
        nxt = next(
            (
                j
                for j in range(i + 1, len(nodes))
                if nodes[j].kind == "observation" and j not in modifiers and sentence_of[j] == sentence_of[i]
            ),
            None,
        )
        if nxt is not None and SUGGESTIVE_RE.search(low, n.end, nodes[nxt].start):
            link(i, nxt, "suggestive_of")
    return edges
