"""Plotly figures and HTML snippets for the analyses (no Streamlit here).

All user text is HTML-escaped before it is placed in HTML or in plotly hover labels.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from cxrvlp.analysis.attribution import Attribution
    from cxrvlp.analysis.heads import HeadSweep


def hover_text(text: str, width: int = 60, max_chars: int = 600) -> str:
    """Escape and wrap a report for a plotly hover label (``<br>`` line breaks)."""
    text = text if len(text) <= max_chars else text[: max_chars - 1] + "…"
    return "<br>".join(html.escape(line) for line in textwrap.wrap(text, width) or [""])


def _colour(score: float, scale: float) -> str:
    a = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    rgb = "220, 50, 47" if score > 0 else "38, 139, 210"  # red raises similarity, blue lowers it
    return f"rgba({rgb}, {0.08 + 0.72 * a:.3f})"


def attribution_html(attr: Attribution, *, scale: float | None = None) -> str:
    """The report with each word's background coloured by its signed attribution (red +, blue -).

    Text between words (spaces, punctuation not covered by a token) is kept as typed; everything is escaped.
    """
    scale = scale if scale is not None else max((abs(w.score) for w in attr.words), default=0.0)
    parts, pos = [], 0
    for w in attr.words:
        parts.append(html.escape(attr.text[pos : w.start]))
        title = html.escape(f"{w.word}: {w.score:+.4f}", quote=True)
        parts.append(
            f'<span title="{title}" style="background:{_colour(w.score, scale)};border-radius:3px;padding:0 1px">'
            f"{html.escape(w.word)}</span>"
        )
        pos = w.end
    parts.append(html.escape(attr.text[pos:]))
    body = "".join(parts).replace("\n", "<br>")
    return f'<div style="line-height:1.9;font-size:1.02em">{body}</div>'


def attribution_pair_html(left: Attribution, right: Attribution, titles: Sequence[str] = ("report", "negated")) -> str:
    """Two attributions side by side on one colour scale (e.g. a report and its negated version)."""
    scale = max([abs(w.score) for w in (*left.words, *right.words)], default=0.0)
    cells = []
    for title, attr in zip(titles, (left, right), strict=True):
        cells.append(
            f'<div style="flex:1;min-width:0"><b>{html.escape(title)}</b> — similarity {attr.similarity:+.4f}'
            f"{attribution_html(attr, scale=scale)}</div>"
        )
    return f'<div style="display:flex;gap:1.5em">{"".join(cells)}</div>'


def attribution_bar(attr: Attribution, *, title: str | None = None) -> go.Figure:
    """Horizontal bar chart of per-word attributions, in reading order."""
    import plotly.graph_objects as go

    words = [f"{i}: {w.word}" for i, w in enumerate(attr.words)]
    scores = [w.score for w in attr.words]
    fig = go.Figure(
        go.Bar(
            x=scores,
            y=[html.escape(w) for w in words],
            orientation="h",
            marker_color=["#dc322f" if s > 0 else "#268bd2" for s in scores],
            hovertemplate="%{y}<br>%{x:+.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=html.escape(title or f"Word attributions ({attr.method})"),
        yaxis={"autorange": "reversed"},
        height=max(250, 22 * len(words) + 80),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="contribution to cosine similarity",
    )
    return fig


POLARITY_COLOURS = {"positive": "#dc322f", "negative": "#268bd2", "normal": "#859900", "image": "#000000"}
KIND_COLOURS = {"report": "#268bd2", "negated": "#dc322f", "omitted": "#d29922", "image": "#000000"}
KIND_SYMBOLS = {"report": "circle", "negated": "x", "omitted": "triangle-up", "image": "star"}
PAIR_COLOURS = {"r vs its r^n": "#dc322f", "r vs its r^r": "#d29922", "r vs another report": "#8b949e"}
_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
]


def category_colours(column: str, values: Sequence[str]) -> dict[str, str]:
    """The same colour for the same category in every run: fixed maps for ``polarity`` and ``kind``; for
    ``finding`` the CheXpert class order (other values by a stable hash of their name)."""
    import zlib

    from cxrvlp.types import CHEXPERT_CLASSES

    fixed = {"polarity": POLARITY_COLOURS, "kind": KIND_COLOURS}.get(column)
    out = {}
    for v in dict.fromkeys(str(x) for x in values):
        if fixed is not None and v in fixed:
            out[v] = fixed[v]
        elif column == "finding" and v in CHEXPERT_CLASSES:
            out[v] = _PALETTE[list(CHEXPERT_CLASSES).index(v) % len(_PALETTE)]
        else:
            out[v] = _PALETTE[zlib.crc32(v.encode()) % len(_PALETTE)]
    return out


def projection_scatter(
    frame: pd.DataFrame, *, color: str = "finding", title: str = "", pairs: bool = True
) -> go.Figure:
    """Scatter of a :func:`~cxrvlp.analysis.projection.projection_frame` with the text on hover.

    Colours are stable across runs (:func:`category_colours`); with ``pairs`` each report is joined to its ``r^n``
    by a grey segment (a long segment: the model moves the report when a finding is negated); image rows are drawn
    as large black stars.
    """
    import plotly.express as px
    import plotly.graph_objects as go

    df = frame.copy()
    df["hover"] = [hover_text(t) for t in df["text"]]
    texts = df[df["kind"] != "image"] if "kind" in df else df
    symbol = "kind" if "kind" in df and color != "kind" else None
    fig = px.scatter(
        texts,
        x="x",
        y="y",
        color=color,
        symbol=symbol,
        symbol_map=KIND_SYMBOLS,
        color_discrete_map=category_colours(color, texts[color]),
        category_orders={color: sorted(map(str, texts[color].unique()))},
        custom_data=["hover", "kind", "finding"],
        title=html.escape(title),
    )
    fig.update_traces(
        hovertemplate="<b>%{customdata[1]}</b> · %{customdata[2]}<br>%{customdata[0]}<extra></extra>",
        marker={"size": 7, "opacity": 0.8},
    )
    if pairs and {"group", "kind"} <= set(df.columns):
        reports = df[df["kind"] == "report"].set_index("group")
        xs: list[float | None] = []
        ys: list[float | None] = []
        for _, row in df[df["kind"] == "negated"].iterrows():
            if row["group"] in reports.index:
                r = reports.loc[row["group"]]
                xs += [float(r["x"]), float(row["x"]), None]
                ys += [float(r["y"]), float(row["y"]), None]
        if xs:
            line = go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="report — its r^n",
                line={"color": "rgba(110,118,129,0.45)", "width": 1},
                hoverinfo="skip",
            )
            fig.add_trace(line)
            fig.data = (fig.data[-1], *fig.data[:-1])  # segments under the points
    images = df[df["kind"] == "image"] if "kind" in df else df.iloc[0:0]
    if len(images):
        fig.add_trace(
            go.Scatter(
                x=images["x"],
                y=images["y"],
                mode="markers+text",
                name="image",
                text=[html.escape(str(f)) for f in images["finding"]],
                textposition="top center",
                marker={"symbol": "star", "size": 20, "color": "#000000", "line": {"color": "#ffd33d", "width": 2}},
                hovertemplate="<b>%{text}</b><extra></extra>",
            )
        )
    fig.update_layout(xaxis_title="", yaxis_title="", legend_title=color, height=560)
    return fig


def pair_histogram(pairs: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Distribution of :func:`~cxrvlp.analysis.projection.pair_cosines`: cos(r, r^n) (and r^r) next to cos(r,
    another report), overlaid histograms with a box per pair kind above them."""
    import plotly.express as px

    fig = px.histogram(
        pairs,
        x="cosine",
        color="pair",
        barmode="overlay",
        nbins=40,
        marginal="box",
        opacity=0.6,
        color_discrete_map=PAIR_COLOURS,
        category_orders={"pair": [p for p in PAIR_COLOURS if p in set(pairs["pair"])]},
        title=html.escape(title),
    )
    fig.update_layout(
        xaxis_title="cosine similarity of the two texts", yaxis_title="pairs", legend_title="", height=380
    )
    return fig


def head_heatmap(sweep: HeadSweep, *, accuracy: bool = False) -> go.Figure:
    """Layer x head heat map of the metric change when that head is masked.

    Plotly's ``RdBu`` runs from red (low) to blue (high), centred on 0: red heads are the ones whose masking lowers
    the metric (they carry negation; the top heads are the reddest), blue ones raise it. Cells holding an
    attribution-patching estimate say so on hover; exact cells are marked "exact" when the map mixes both.
    """
    import plotly.graph_objects as go

    z = (sweep.accuracy_delta if accuracy else sweep.delta).numpy()
    name = "Task-A accuracy" if accuracy else sweep.metric
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    estimated = sweep.is_estimate().numpy()
    kind = np.where(estimated, "first-order estimate (attribution patching)", "exact (masked and re-encoded)")
    mixed = bool(estimated.any() and not estimated.all())
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"h{h}" for h in range(z.shape[1])],
            y=[f"L{layer}" for layer in range(z.shape[0])],
            colorscale="RdBu",
            zmid=0,
            zmin=-lim,
            zmax=lim,
            colorbar={"title": "Δ"},
            customdata=kind,
            text=np.where(estimated, "", "exact") if mixed else None,
            texttemplate="%{text}" if mixed else None,
            hovertemplate="layer %{y}, head %{x}<br>Δ " + name + " = %{z:+.4f}<br>%{customdata}<extra></extra>",
        )
    )
    base = sweep.accuracy_baseline if accuracy else sweep.baseline
    what = "estimated change" if estimated.all() else "change"
    fig.update_layout(title=f"{what.capitalize()} of {name} when one head is masked (baseline {base:.4f})", height=420)
    return fig


def matrix_heatmap(
    matrix: np.ndarray,
    labels: Sequence[str],
    *,
    title: str,
    zmin: float | None = None,
    zmax: float | None = None,
    boundary: int | None = None,
) -> go.Figure:
    """A square matrix (similarity or soft labels) with both reports on hover.

    ``boundary``: index of the first hard-negative row / column; a white line is drawn before it on both axes.
    """
    import plotly.graph_objects as go

    n = len(labels)
    hov = np.empty(n, dtype=object)
    hov[:] = [hover_text(t, width=50, max_chars=300) for t in labels]
    custom = np.empty((n, n, 2), dtype=object)
    custom[:, :, 0] = hov[:, None]  # row report
    custom[:, :, 1] = hov[None, :]  # column report
    ticks = [str(i) for i in range(n)]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=ticks,
            y=ticks,
            customdata=custom,
            zmin=zmin,
            zmax=zmax,
            colorscale="Viridis",
            hovertemplate="row %{y}: %{customdata[0]}<br><br>col %{x}: %{customdata[1]}<br><br>value %{z:.4f}"
            "<extra></extra>",
        )
    )
    if boundary is not None and 0 < boundary < n:
        for axis in ("x", "y"):
            line = {"type": "line", "line": {"color": "white", "width": 3}, "xref": "x", "yref": "y"}
            if axis == "x":
                line |= {"x0": boundary - 0.5, "x1": boundary - 0.5, "y0": -0.5, "y1": n - 0.5}
            else:
                line |= {"y0": boundary - 0.5, "y1": boundary - 0.5, "x0": -0.5, "x1": n - 0.5}
            fig.add_shape(line)
        fig.add_annotation(
            x=boundary - 0.5, y=-0.5, text="hard negatives →", showarrow=False, xanchor="left", yanchor="bottom"
        )
    fig.update_layout(
        title=html.escape(title),
        yaxis={"autorange": "reversed"},
        height=420,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def metric_bar(frame: pd.DataFrame, *, title: str = "") -> go.Figure:
    """One metric per run with its 95% CI as error bars.

    ``frame``: rows of :func:`cxrvlp.eval.tables.comparison_frame` for one metric (columns ``run, value, low,
    high``); run names and the title are escaped.
    """
    import plotly.express as px

    df = frame.assign(run=frame["run"].map(html.escape))
    return px.bar(
        df,
        x="run",
        y="value",
        error_y=df["high"] - df["value"],
        error_y_minus=df["value"] - df["low"],
        title=html.escape(title) or None,
    )


def breakdown_bar(frame: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Grouped bars of a task's per-finding metrics (:func:`cxrvlp.eval.tables.breakdown_frame`), ``n`` on hover.

    Finding and metric names and the title are escaped.
    """
    import plotly.express as px

    df = frame.assign(finding=frame["finding"].map(html.escape), metric=frame["metric"].map(html.escape))
    return px.bar(
        df, x="finding", y="value", color="metric", barmode="group", hover_data=["n"], title=html.escape(title) or None
    )


def controls_figure(frame: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Grouped bars for one metric (rows of :func:`cxrvlp.eval.tables.controls_frame` with one ``task``/``metric``):
    per run, the own score beside each control, 95% CI as error bars; the gap own - shuffled is written above each
    run. Run names and the title are escaped."""
    import plotly.graph_objects as go

    from cxrvlp.eval.tables import CONDITIONS

    fig = go.Figure()
    runs = [html.escape(r) for r in frame["run"]]
    for key, words in CONDITIONS.items():
        if frame[key].isna().all():
            continue
        fig.add_bar(
            name=words,
            x=runs,
            y=frame[key],
            error_y={
                "type": "data",
                "array": (frame[f"{key}_high"] - frame[key]).fillna(0),
                "arrayminus": (frame[key] - frame[f"{key}_low"]).fillna(0),
            },
        )
    notes = []
    for run, (_, row) in zip(runs, frame.iterrows(), strict=True):
        if math.isfinite(row["grounding_gap"]):
            ci = f" [{row['gap_low']:.1f}, {row['gap_high']:.1f}]" if math.isfinite(row["gap_low"]) else ""
            notes.append({"x": run, "text": f"gap {row['grounding_gap']:+.1f}{ci}"})
    top = float(np.nanmax(frame[[f"{k}_high" for k in CONDITIONS] + list(CONDITIONS)].to_numpy(dtype=float)))
    for n in notes:
        fig.add_annotation(x=n["x"], y=top * 1.08 if top > 0 else 1.0, text=n["text"], showarrow=False)
    fig.update_layout(barmode="group", title=html.escape(title) or None, legend_title_text="scored against")
    return fig


def reference_strip(frame: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Strip plot of :func:`cxrvlp.analysis.reference.reference_scores`: per version the cosine of every reference
    X-ray (grey; with / without the finding in orange / teal where the labels say) and this image (a large red
    diamond), in the table's order."""
    import plotly.graph_objects as go

    order = list(dict.fromkeys(frame["version"]))
    fig = go.Figure()
    ref = frame[frame["source"] == "reference"]
    shown: set[str] = set()
    for group in dict.fromkeys(ref["group"]):
        part = ref[ref["group"] == group]
        kind = "labels silent" if group == "reference" else ("with" if " with " in group else "without")
        legend = {
            "labels silent": "reference film (labels silent on the finding)",
            "with": "reference film with the version's finding",
            "without": "reference film without it",
        }[kind]
        colour = {"labels silent": "#8b949e", "with": "#d29922", "without": "#2aa198"}[kind]
        fig.add_trace(
            go.Box(
                x=part["version"],
                y=part["cosine"],
                name=legend,
                legendgroup=kind,
                showlegend=kind not in shown,
                boxpoints="all",
                jitter=0.5,
                pointpos=0,
                fillcolor="rgba(0,0,0,0)",
                line={"color": "rgba(0,0,0,0)"},
                marker={"color": colour, "size": 6, "opacity": 0.75},
                customdata=np.stack([part["image"], part["labels"].map(html.escape)], axis=-1),
                hovertemplate="%{customdata[0]} (%{customdata[1]}): %{y:+.4f}<extra></extra>",
            )
        )
        shown.add(kind)
    mine = frame[frame["source"] == "this image"]
    fig.add_trace(
        go.Scatter(
            x=mine["version"],
            y=mine["cosine"],
            mode="markers",
            name="this image",
            marker={"color": "#dc322f", "size": 16, "symbol": "diamond", "line": {"color": "white", "width": 1.5}},
            customdata=mine["rank"],
            hovertemplate="this image: %{y:+.4f} (rank %{customdata} of "
            + str(len(ref) // max(len(order), 1) + 1)
            + ")<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        boxmode="overlay",
        xaxis={"categoryorder": "array", "categoryarray": order, "title": ""},
        yaxis={"title": "cosine similarity"},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 10},
    )
    return fig
