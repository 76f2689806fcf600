"""Tensorising report graphs for the graph tower: ReportGraph -> torch_geometric ``Data`` -> ``Batch``.

Node texts are tokenised with the text tower's tokenizer, passed in as an argument (the data layer never imports
models). :class:`cxrvlp.models.graph.GraphEncoder` embeds the result.
"""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Batch, Data

from cxrvlp.types import ReportGraph

KINDS: dict[str, int] = {"root": 0, "anatomy": 1, "observation": 2}
"""Node kind -> index of the kind embedding."""
STATUSES: dict[str, int] = {"": 0, "present": 1, "absent": 2, "uncertain": 3}
"""Node status -> index of the status embedding (``""`` for anatomy and the root)."""


def graph_to_data(graph: ReportGraph, tokenizer: Any, *, max_node_tokens: int = 8) -> Data:
    """Tensorise one report graph (see :func:`graphs_to_data`, which does many with one tokenizer call).

    Args:
        graph: the report's entity graph (may have no nodes).
        tokenizer: a Hugging Face tokenizer of the text tower.
        max_node_tokens: word pieces kept per node (longer entity texts are truncated).

    Returns:
        ``Data`` with ``n + 1`` nodes (root first): ``token_ids [n+1, L]`` long, ``token_mask [n+1, L]`` bool,
        ``kind [n+1]`` and ``status [n+1]`` long, ``edge_index [2, E]`` (both directions of every relation and of
        every root link).
    """
    return graphs_to_data([graph], tokenizer, max_node_tokens=max_node_tokens)[0]


def graphs_to_data(graphs: list[ReportGraph], tokenizer: Any, *, max_node_tokens: int = 8) -> list[Data]:
    """Tensorise many report graphs, calling the tokenizer once on the node texts of all of them.

    Each node text is padded / truncated to exactly ``max_node_tokens`` on its own, so the result equals
    ``[graph_to_data(g, tokenizer) for g in graphs]``.

    Args:
        graphs: the reports' entity graphs (any may have no nodes).
        tokenizer: a Hugging Face tokenizer of the text tower.
        max_node_tokens: word pieces kept per node (longer entity texts are truncated).

    Returns:
        One ``Data`` per graph, as :func:`graph_to_data` describes.
    """
    texts = [node.text for graph in graphs for node in graph.nodes]
    if texts:
        enc = tokenizer(
            texts,
            add_special_tokens=False,
            padding="max_length",
            truncation=True,
            max_length=max_node_tokens,
            return_tensors="pt",
        )
        all_ids, all_mask = enc["input_ids"], enc["attention_mask"].bool()  # (N, L) over every graph's nodes
    out: list[Data] = []
    offset = 0
    for graph in graphs:
        n = len(graph.nodes)
        token_ids = torch.zeros(n + 1, max_node_tokens, dtype=torch.long)
        token_mask = torch.zeros(n + 1, max_node_tokens, dtype=torch.bool)
        if n:
            token_ids[1:] = all_ids[offset : offset + n]
            token_mask[1:] = all_mask[offset : offset + n]
            offset += n
        kind = torch.tensor([KINDS["root"]] + [KINDS[node.kind] for node in graph.nodes], dtype=torch.long)
        status = torch.tensor([STATUSES[""]] + [STATUSES[node.status] for node in graph.nodes], dtype=torch.long)
        src = [e.src + 1 for e in graph.edges] + [0] * n
        dst = [e.dst + 1 for e in graph.edges] + list(range(1, n + 1))
        for e in graph.edges:
            if not (0 <= e.src < n and 0 <= e.dst < n):
                raise ValueError(f"edge {e} points outside the graph's {n} nodes")
        edge_index = torch.tensor([src + dst, dst + src], dtype=torch.long).reshape(2, -1)  # (2, E) undirected
        out.append(
            Data(
                token_ids=token_ids,
                token_mask=token_mask,
                kind=kind,
                status=status,
                edge_index=edge_index,
                num_nodes=n + 1,
            )
        )
    return out


def collate_graphs(graphs: list[Data]) -> Batch:
    """Many graphs -> one disjoint-union ``Batch`` (node indices offset, ``batch`` vector of graph ids)."""
    return Batch.from_data_list(graphs)
