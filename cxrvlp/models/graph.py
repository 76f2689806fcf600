"""GraphEncoder: a 2-layer GCN over the text engine's :class:`~cxrvlp.types.ReportGraph` (Ko & Park Sec. 4.3).

Node features come from the text tower: the mean of the text encoder's input token embeddings over a node's word
pieces (the ``nn.Embedding`` is shared with the text encoder, standing in for the paper's ClinicalBERT node
embeddings), plus a learned embedding of the node kind (root / anatomy / observation) and of its status
(none / present / absent / uncertain), so "effusion" present and "effusion" absent differ -- which negation needs.

A virtual root node (index 0 of every graph) is linked to all nodes, so messages cross disconnected entities and a
report with no entities still has one node. Edges are used undirected and unlabelled (GCNConv has no relation
types); the graph embedding is the mean of the final node states, projected to ``embed_dim`` and L2-normalised.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv, global_mean_pool

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


class GraphEncoder(nn.Module):
    """GCN graph tower: node features from shared token embeddings + kind + status, ``num_layers`` GCNConv.

    Args:
        embedding: the text encoder's input token embedding (shared, not copied).
        embed_dim: output size ``D`` of the joint embedding space.
        hidden_dim: GCN width.
        num_layers: GCNConv layers (the paper uses 2).
        dropout: dropout after each hidden GCN layer.
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        *,
        embed_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        width = embedding.embedding_dim
        self.token_embedding = embedding
        self.kind_embedding = nn.Embedding(len(KINDS), width)
        self.status_embedding = nn.Embedding(len(STATUSES), width)
        dims = [width] + [hidden_dim] * num_layers
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_dim, embed_dim)

    def node_features(self, data: Data | Batch) -> Tensor:
        """``[num_nodes, width]``: masked mean of token embeddings + kind + status embeddings."""
        mask = data.token_mask.unsqueeze(-1).to(self.token_embedding.weight.dtype)  # (V, L, 1)
        tokens = (self.token_embedding(data.token_ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (V, width)
        return tokens + self.kind_embedding(data.kind) + self.status_embedding(data.status)

    def forward(self, batch: Data | Batch) -> Tensor:
        """Embed a batch of graphs.

        Args:
            batch: from :func:`collate_graphs` (or one :func:`graph_to_data` result).

        Returns:
            ``[G, embed_dim]`` L2-normalised graph embeddings, one per graph.
        """
        h = self.node_features(batch)  # (V, width)
        for i, conv in enumerate(self.convs):
            h = conv(h, batch.edge_index)
            if i < len(self.convs) - 1:
                h = self.dropout(F.relu(h))
        pooled = global_mean_pool(h, getattr(batch, "batch", None))  # (G, hidden)
        return F.normalize(self.proj(pooled), dim=-1)
