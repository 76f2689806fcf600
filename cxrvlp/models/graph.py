"""GraphEncoder: a 2-layer GCN over the text engine's :class:`~cxrvlp.types.ReportGraph` (Ko & Park Sec. 4.3).

Node features come from the text tower: the mean of the text encoder's input token embeddings over a node's word
pieces (the ``nn.Embedding`` is shared with the text encoder, standing in for the paper's ClinicalBERT node
embeddings), plus a learned embedding of the node kind (root / anatomy / observation) and of its status
(none / present / absent / uncertain), so "effusion" present and "effusion" absent differ -- which negation needs.

A virtual root node (index 0 of every graph) is linked to all nodes, so messages cross disconnected entities and a
report with no entities still has one node. Edges are used undirected and unlabelled (GCNConv has no relation
types); the graph embedding is the mean of the final node states, projected to ``embed_dim`` and L2-normalised.
The tensorising of graphs (:func:`graphs_to_data`, :func:`collate_graphs`) lives in :mod:`cxrvlp.data.graphs`
(the data layer takes the tokenizer as an argument); it is re-exported here.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GCNConv, global_mean_pool

from cxrvlp.data.graphs import KINDS, STATUSES, collate_graphs, graph_to_data, graphs_to_data

__all__ = ["KINDS", "STATUSES", "GraphEncoder", "collate_graphs", "graph_to_data", "graphs_to_data"]


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
