"""Streamlit panels of the reference set (:mod:`cxrvlp.analysis.reference`): the probe's reference panel and the
attribution against a reference X-ray."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from cxrvlp.analysis.attribution import Attribution
from cxrvlp.analysis.figures import attribution_pair_html, reference_strip
from cxrvlp.analysis.reference import ReferenceSet, compare, reference_scores
from cxrvlp.inference import Predictor
from cxrvlp.ui import loaders

CREDIT = "NIH ChestX-ray14 test split, bundled; NIH Clinical Center, Wang et al., CVPR 2017"


def reference_panel(
    predictor: Predictor,
    table: pd.DataFrame,
    image_embedding: torch.Tensor,
    ref_embeddings: torch.Tensor,
    ref_set: ReferenceSet,
) -> None:
    """The probe's reference panel: one verdict per version, the strip plot, this image's rank per version.

    Args:
        table: :func:`cxrvlp.analysis.probe.score_versions` output (the original first).
        image_embedding: ``[D]`` this image.
        ref_embeddings: ``[N, D]`` the reference X-rays (:func:`cxrvlp.ui.loaders.reference_embeddings`).
    """
    n_ref = len(ref_set)
    st.subheader("Reference panel: this image or any image?", anchor="reference-panel")
    st.caption(
        f"Every version scored against {n_ref} real chest X-rays ({CREDIT}). If the model prefers the same version "
        "for this image and for nearly all reference X-rays, the preference comes from the text, not from this image."
    )
    names, findings = list(table["version"]), list(table["finding"])
    emb = loaders.text_cache().embed_texts(predictor, list(table["text"]))  # all cached: the table scored them
    comparisons = compare(names, findings, emb, image_embedding, ref_embeddings, reference=ref_set)
    if comparisons:
        lines = [f"- **{c.version}**: {c.sentence()}" for c in comparisons]
        st.markdown("\n".join(lines), help="r: the original report. A text prior: the same answer for any X-ray.")
    else:
        st.info("Only the original is in the table: negate a finding or edit the report to compare versions.")
    long = reference_scores(names, findings, emb, image_embedding, ref_embeddings, reference=ref_set)
    st.plotly_chart(
        reference_strip(long, title=f"Cosine per version: this image (diamond) among {n_ref} reference X-rays"),
        key="probe_reference_chart",
    )
    ref = long[long["source"] == "reference"].groupby("version", sort=False)["cosine"]
    mine = long[long["source"] == "this image"].set_index("version")
    ranks = pd.DataFrame(
        {
            "version": names,
            "this image": [float(mine.loc[v, "cosine"]) for v in names],
            "reference median": [float(ref.median()[v]) for v in names],
            "reference range": [f"{ref.min()[v]:+.4f} … {ref.max()[v]:+.4f}" for v in names],
            f"rank of this image (of {n_ref + 1})": [int(mine.loc[v, "rank"]) for v in names],
        }
    )
    st.dataframe(
        ranks,
        hide_index=True,
        key="probe_reference_ranks",
        column_config={c: st.column_config.NumberColumn(format="%+.4f") for c in ("this image", "reference median")},
    )


def reference_swap(spec: str, report: str, finding: str | None, own: Attribution, steps: int, method: str) -> None:
    """Token attribution of ``report`` against a bundled reference X-ray (by default one whose labels lack
    ``finding``), beside ``own`` (the attribution against this image), with the agreement of the two."""
    st.subheader("The same report against a reference X-ray", anchor="swap")
    st.caption(
        "If the words light up the same way for a different X-ray, the attribution explains the text side, not this "
        "image. Reference X-rays: NIH ChestX-ray14 test films bundled with the app (NIH Clinical Center; Wang et al., "
        "CVPR 2017)."
    )
    ref_set = loaders.reference_set()
    has = ref_set.has(finding) if finding else None
    options = list(range(len(ref_set)))
    default = next((k for k in options if has is not None and not has[k]), 0)  # a film without the finding, if known
    pick_col, show_col = st.columns([2, 1])
    with pick_col:
        k = st.selectbox(
            "Reference X-ray",
            options,
            index=default,
            key="attr_swap",
            format_func=lambda i: f"{ref_set.paths[i].name} ({', '.join(ref_set.labels[i])})",
            help="Defaults to a film whose NIH labels lack the finding chosen above",
        )
    with show_col:
        st.image(str(ref_set.paths[k]), width=160, caption=", ".join(ref_set.labels[k]))
    swap_emb = torch.from_numpy(loaders.reference_embeddings(spec)[k])
    with st.spinner("Attributing against the reference X-ray…"):
        swapped = loaders.attribution(spec, report, f"reference:{ref_set.paths[k].name}", swap_emb, steps, method)
    st.html(attribution_pair_html(own, swapped, titles=("this image", f"reference {ref_set.paths[k].name}")))
    c1, c2, c3 = st.columns(3)
    c1.metric("similarity (this image)", f"{own.similarity:+.4f}")
    c2.metric("similarity (reference X-ray)", f"{swapped.similarity:+.4f}")
    a = torch.tensor([w.score for w in own.words])
    b = torch.tensor([w.score for w in swapped.words])
    same = (
        float(torch.nn.functional.cosine_similarity(a, b, dim=0)) if len(a) == len(b) and len(a) > 1 else float("nan")
    )
    c3.metric(
        "agreement of the two attributions",
        f"{same:+.2f}",
        help="Cosine between the per-word attributions for this image and for the reference X-ray: near +1, the words "
        "count the same whatever the image (a text-side explanation); near 0 or below, the image changes which words "
        "matter",
    )
