"""Report graphs: entities, statuses, relations, offsets, serialisation."""

from __future__ import annotations

from cxrvlp.text import extract_graph
from cxrvlp.types import ReportGraph

REPORT = (
    "FINDINGS: Mild patchy opacity in the left lower lobe, suggestive of pneumonia. Heart size is normal. "
    "No pleural effusion or pneumothorax. Calcified granuloma in the right upper lobe."
)


def triples(g: ReportGraph) -> set[tuple[str, str, str]]:
    return {(g.nodes[e.src].text, e.relation, g.nodes[e.dst].text) for e in g.edges}


def test_nodes_and_statuses() -> None:
    g = extract_graph(REPORT)
    nodes = {(n.text, n.kind, n.status) for n in g.nodes}
    assert {
        ("opacity", "observation", "present"),
        ("left lower lobe", "anatomy", ""),
        ("pneumonia", "observation", "uncertain"),
        ("heart size", "anatomy", ""),
        ("normal", "observation", "present"),
        ("pleural effusion", "observation", "absent"),
        ("pneumothorax", "observation", "absent"),
        ("granuloma", "observation", "present"),
        ("right upper lobe", "anatomy", ""),
        ("mild", "observation", "present"),
    } <= nodes
    for n in g.nodes:
        assert REPORT[n.start : n.end].lower() == n.text


def test_relations() -> None:
    assert {
        ("opacity", "located_at", "left lower lobe"),
        ("opacity", "suggestive_of", "pneumonia"),
        ("mild", "modify", "opacity"),
        ("patchy", "modify", "opacity"),
        ("normal", "located_at", "heart size"),
        ("calcified", "modify", "granuloma"),
        ("granuloma", "located_at", "right upper lobe"),
    } <= triples(extract_graph(REPORT))


def test_modifier_takes_status_of_its_observation() -> None:
    g = extract_graph("No large pleural effusion.")
    assert {(n.text, n.status) for n in g.nodes} == {("large", "absent"), ("pleural effusion", "absent")}
    assert triples(g) == {("large", "modify", "pleural effusion")}


def test_negated_size_cue_is_absent() -> None:
    g = extract_graph("The heart is not enlarged.")
    assert {(n.text, n.kind, n.status) for n in g.nodes} == {
        ("heart", "anatomy", ""),
        ("is not enlarged", "observation", "absent"),
    }


def test_only_findings_and_impression() -> None:
    g = extract_graph("INDICATION: pneumonia. FINDINGS: Clear lungs.")
    assert [n.text for n in g.nodes] == ["clear", "lungs"]


def test_empty_and_roundtrip() -> None:
    assert extract_graph("") == ReportGraph()
    assert extract_graph("!!! ...") == ReportGraph()
    g = extract_graph(REPORT)
    assert ReportGraph.from_dict(g.to_dict()) == g
    assert all(0 <= e.src < len(g.nodes) and 0 <= e.dst < len(g.nodes) and e.src != e.dst for e in g.edges)
