"""The preprocessing cache: report cleaning, labels, hard negatives and report graphs, computed once per dataset.

For every distinct raw report of a dataset one row is stored:

| column | content |
|---|---|
| ``raw`` | the report as the dataset ships it (the key records are joined on) |
| ``report`` | :func:`~cxrvlp.text.statements.clean_report`: FINDINGS + IMPRESSION, temporal statements removed |
| ``labels`` | the clinical vector C of ``report`` (14 floats, :func:`~cxrvlp.text.labeler.clinical_vector`) |
| ``hardneg_report`` | the hard negative (Ko & Park Sec. 4.1), "" when none could be made |
| ``hardneg_labels`` | its clinical vector |
| ``graph`` / ``hardneg_graph`` | :class:`~cxrvlp.types.ReportGraph` as JSON ("" when graphs are off) |

Hard negatives (Sec. 4.1): an *abnormal* report (a positive pathology; Support Devices do not count, as in
:func:`~cxrvlp.text.labeler.positive_pathologies`) gets r^n: one of its positive findings, drawn with a seeded RNG, is
negated by :func:`~cxrvlp.text.negation.make_negated`. A *normal* report gets another report of the dataset that has
exactly one positive finding (:func:`~cxrvlp.text.negation.hardneg_for_normal`), so the two differ by one entity.
To keep this O(N), each normal report draws from a uniform sample of at most ``POOL_SAMPLE`` eligible reports (a
uniform choice from a uniform sample is uniform). When the dataset has no single-finding report, normal reports get
no hard negative ("" and a warning; hard-negative methods then drop those records, with a log line).

The table is written as parquet under ``cache_dir``, named by a SHA-256 of the inputs (the sorted distinct raw
reports, the seed, whether graphs are built) and of the code version (this module and the ``cxrvlp.text`` sources),
so editing the labeler invalidates the cache and training never re-labels a report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from cxrvlp.types import StageProgressFn

log = logging.getLogger(__name__)

PREPROCESS_VERSION = 1
"""Bump when the table's layout or meaning changes."""
POOL_SAMPLE = 64
"""Eligible single-finding reports sampled per normal report (see the module docstring)."""
PARALLEL_MIN = 2000
"""Fewer distinct reports than this are processed in-process (pool start-up would dominate)."""
COLUMNS = ("raw", "report", "labels", "hardneg_report", "hardneg_labels", "graph", "hardneg_graph")


def code_version() -> str:
    """SHA-256 over :data:`PREPROCESS_VERSION`, this file and every ``cxrvlp/text/*.py`` source."""
    h = hashlib.sha256(f"v{PREPROCESS_VERSION}".encode())
    text_dir = Path(__file__).resolve().parents[1] / "text"
    for path in [Path(__file__).resolve(), *sorted(text_dir.glob("*.py"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def corpus_digest(reports: Iterable[str]) -> bytes:
    """The corpus part of :func:`cache_key`: the SHA-256 digests of the sorted distinct reports, concatenated.

    Sorting and hashing a large corpus dominates a cache look-up, so :func:`load_or_build` computes it once and
    passes it as ``corpus=`` to :func:`find_cached` / :func:`cache_path` / :func:`cache_key`.
    """
    return b"".join(hashlib.sha256(text.encode()).digest() for text in sorted(set(reports)))


def cache_key(reports: Iterable[str], *, seed: int, graphs: bool, corpus: bytes | None = None) -> str:
    """The cache file's key: hash of the distinct reports (order-free), ``seed``, ``graphs`` and the code version.

    ``corpus``: :func:`corpus_digest` of ``reports`` when the caller already has it (``reports`` is then not read).
    """
    h = hashlib.sha256(f"{code_version()}\x00seed={seed}\x00graphs={graphs}".encode())
    h.update(corpus_digest(reports) if corpus is None else corpus)
    return h.hexdigest()


def _graph_json(text: str) -> str:
    from cxrvlp.text.graph import extract_graph

    return json.dumps(extract_graph(text).to_dict(), separators=(",", ":"))


def _clean_and_label(raw: str) -> tuple[str, dict[str, str]]:
    from cxrvlp.text.labeler import label_report
    from cxrvlp.text.statements import clean_report

    cleaned = clean_report(raw)
    return cleaned, (label_report(cleaned).labels if cleaned else {})


def _hard_negative(job: tuple[str, dict[str, str], list[str], list[dict[str, str]], int, bool]) -> dict[str, Any]:
    """One row's hard negative, its labels and both graphs (runs in a worker process).

    A normal report's hard negative is another row's cleaned report, so its graph is left ``None`` here and
    :func:`preprocess_reports` copies that row's ``graph`` (:func:`_graph_json` is deterministic).
    """
    from cxrvlp.text.labeler import LabeledReport, clinical_vector, label_report, positive_pathologies
    from cxrvlp.text.negation import hardneg_for_normal, make_negated

    cleaned, labels, candidates, candidate_labels, seed, graphs = job
    positives = positive_pathologies(labels)
    hardneg_graph: str | None = ""
    if positives:
        finding = random.Random(f"{seed}\x00finding\x00{cleaned}").choice(positives)
        hardneg = make_negated(cleaned, finding, seed=seed)
        hardneg_labels = label_report(hardneg).labels
        hardneg_graph = _graph_json(hardneg) if graphs and hardneg else ""
    elif candidates:
        lab = [LabeledReport(t, lbl) for t, lbl in zip(candidates, candidate_labels, strict=True)]
        hardneg = hardneg_for_normal(candidates, seed=seed, labels=lab)
        hardneg_labels = candidate_labels[candidates.index(hardneg)]
        # The candidate is another row's cleaned report: preprocess_reports copies that row's graph.
        hardneg_graph = None if graphs and hardneg else ""
    else:
        hardneg, hardneg_labels = "", {}
    return {
        "report": cleaned,
        "labels": clinical_vector(labels),
        "hardneg_report": hardneg,
        "hardneg_labels": clinical_vector(hardneg_labels),
        "graph": _graph_json(cleaned) if graphs else "",
        "hardneg_graph": hardneg_graph,
    }


def _map(
    fn: Callable[[Any], Any], items: Sequence[Any], *, workers: int, stage: str, on_progress: StageProgressFn | None
):
    out: list[Any] = []
    total = len(items)
    if workers <= 1 or total < PARALLEL_MIN:
        for i, item in enumerate(items):
            out.append(fn(item))
            if on_progress and (i % 256 == 255 or i == total - 1):
                on_progress(stage, i + 1, total)
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(fn, items, chunksize=256)):
            out.append(result)
            if on_progress and (i % 256 == 255 or i == total - 1):
                on_progress(stage, i + 1, total)
    return out


def preprocess_reports(
    reports: Iterable[str],
    *,
    seed: int = 0,
    graphs: bool = True,
    workers: int = 0,
    on_progress: StageProgressFn | None = None,
):
    """Clean, label, build hard negatives and graphs for every distinct report.

    Args:
        reports: raw report texts (duplicates are processed once).
        seed: seeds the choice of the negated finding and of the normal-case hard negative.
        graphs: extract report graphs (needed by the graph methods; the slowest part).
        workers: processes to use (<= 1: in this process).
        on_progress: called as ``on_progress(stage, done, total)`` with stage ``"label"`` then ``"hard negatives"``.

    Returns:
        A ``pandas.DataFrame`` with :data:`COLUMNS`, one row per distinct raw report, sorted by ``raw``.
    """
    import pandas as pd

    from cxrvlp.text.labeler import positive_pathologies

    raws = sorted(set(reports))
    cleaned_labels = _map(_clean_and_label, raws, workers=workers, stage="label", on_progress=on_progress)
    eligible = sorted({c: lbl for c, lbl in cleaned_labels if len(positive_pathologies(lbl)) == 1}.items())
    if not eligible:
        log.warning("no report has exactly one positive finding: normal reports get no hard negative")
    jobs = []
    for cleaned, labels in cleaned_labels:
        rng = random.Random(f"{seed}\x00pool\x00{cleaned}")
        sample = rng.sample(eligible, min(POOL_SAMPLE, len(eligible))) if not positive_pathologies(labels) else []
        jobs.append((cleaned, labels, [t for t, _ in sample], [lbl for _, lbl in sample], seed, graphs))
    rows = _map(_hard_negative, jobs, workers=workers, stage="hard negatives", on_progress=on_progress)
    graph_of = {row["report"]: row["graph"] for row in rows}
    for row in rows:
        if row["hardneg_graph"] is None:  # a normal report's hard negative: another row's cleaned report
            hardneg = row["hardneg_report"]
            row["hardneg_graph"] = graph_of[hardneg] if hardneg in graph_of else _graph_json(hardneg)
    df = pd.DataFrame(rows, columns=list(COLUMNS[1:]))
    df.insert(0, "raw", raws)
    return df


def default_cache_dir(root: str | Path) -> Path:
    """``<root>/.cxrvlp_cache`` (``root``'s folder for a manifest file); ``~/.cache/cxrvlp`` if read-only."""
    root = Path(root).expanduser()
    base = root.parent if root.is_file() else root
    if os.access(base, os.W_OK):
        return base / ".cxrvlp_cache"
    return Path.home() / ".cache" / "cxrvlp" / "preprocess"


def cache_path(
    reports: Iterable[str], *, cache_dir: str | Path, seed: int, graphs: bool, corpus: bytes | None = None
) -> Path:
    """Where :func:`load_or_build` stores the table of these reports (``corpus``: as in :func:`cache_key`)."""
    key = cache_key(reports, seed=seed, graphs=graphs, corpus=corpus)
    return Path(cache_dir) / f"reports-{key[:24]}.parquet"


def find_cached(
    reports: Iterable[str], *, cache_dir: str | Path, seed: int, graphs: bool, corpus: bytes | None = None
) -> Path | None:
    """The cached table serving these reports, or None (a table with graphs also serves a run without them).

    ``corpus``: as in :func:`cache_key`; computed once here otherwise.
    """
    if corpus is None:
        corpus = corpus_digest(reports)
    for with_graphs in (graphs,) if graphs is True else (graphs, True):
        path = cache_path((), cache_dir=cache_dir, seed=seed, graphs=with_graphs, corpus=corpus)
        if path.is_file():
            return path
    return None


def load_or_build(
    reports: Sequence[str],
    *,
    cache_dir: str | Path,
    seed: int = 0,
    graphs: bool = True,
    workers: int = 0,
    on_progress: StageProgressFn | None = None,
):
    """Read the cached table of ``reports`` or build and store it (atomically: temp file + rename).

    Returns:
        The ``pandas.DataFrame`` of :func:`preprocess_reports`; ``df.attrs["cache_path"]`` is the file it was read
        from or written to (what :func:`find_cached` now returns).
    """
    import pandas as pd

    corpus = corpus_digest(reports)
    hit = find_cached(reports, cache_dir=cache_dir, seed=seed, graphs=graphs, corpus=corpus)
    if hit is not None:
        log.info("preprocessing cache hit: %s", hit)
        df = pd.read_parquet(hit)
        df.attrs["cache_path"] = hit
        return df
    path = cache_path(reports, cache_dir=cache_dir, seed=seed, graphs=graphs, corpus=corpus)
    log.info("preprocessing %d distinct reports -> %s", len(corpus) // hashlib.sha256().digest_size, path)
    df = preprocess_reports(reports, seed=seed, graphs=graphs, workers=workers, on_progress=on_progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    df.to_parquet(tmp, index=False)
    tmp.replace(path)
    df.attrs["cache_path"] = path
    return df
