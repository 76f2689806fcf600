"""One entry point from a :class:`~cxrvlp.config.DataConfig` to records and their preprocessed reports."""

from __future__ import annotations

import inspect
from pathlib import Path

from cxrvlp.config import DataConfig
from cxrvlp.data import chexpert_plus, manifest, mimic, openi_images  # noqa: F401  (register the loaders)
from cxrvlp.data.preprocess import default_cache_dir, load_or_build
from cxrvlp.data.records import DATASETS, Record
from cxrvlp.types import StageProgressFn, UserError


def dataset_names() -> list[str]:
    """Valid values of ``data.dataset``."""
    return DATASETS.names()


def load_records(cfg: DataConfig) -> list[Record]:
    """All records of ``cfg.dataset`` at ``cfg.root`` (every split; frontal views when ``cfg.frontal_only``).

    Raises:
        KeyError: unknown dataset name (the message lists the valid names).
        FileNotFoundError / ValueError: from the loader, naming the missing file or column.
    """
    if not cfg.root:
        raise UserError("data.root is empty: set it to the dataset folder (or the manifest CSV)")
    loader = DATASETS.get(cfg.dataset)
    kwargs = {"frontal_only": cfg.frontal_only, "seed": cfg.seed}
    if "reports" in inspect.signature(loader).parameters:
        kwargs["reports"] = cfg.reports
    return loader(cfg.root, **kwargs)


def cache_dir_for(cfg: DataConfig) -> Path:
    """``cfg.cache_dir`` or the dataset's default cache folder."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_dir(cfg.root)


def prepare(
    cfg: DataConfig, *, graphs: bool = True, workers: int | None = None, on_progress: StageProgressFn | None = None
):
    """Records plus the preprocessed table of their reports (built once, then read from the cache).

    Args:
        cfg: the data section.
        graphs: build report graphs too (a cache built with graphs serves runs without them, not vice versa).
        workers: preprocessing processes; default ``cfg.num_workers``.
        on_progress: ``on_progress(stage, done, total)`` while building.

    Returns:
        ``(records, table)``: ``list[Record]`` and the ``pandas.DataFrame`` of
        :func:`~cxrvlp.data.preprocess.preprocess_reports`.
    """
    records = load_records(cfg)
    table = load_or_build(
        [r.report for r in records],
        cache_dir=cache_dir_for(cfg),
        seed=cfg.seed,
        graphs=graphs,
        workers=cfg.num_workers if workers is None else workers,
        on_progress=on_progress,
    )
    return records, table
