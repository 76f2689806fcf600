"""Progress bars for the subcommands: one tqdm bar per stage on stderr (not a subcommand itself)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class StageBars:
    """One tqdm bar per stage, fed ``(stage, done, total)`` (e.g. ``evaluate``'s ``on_progress``).

    Use it as a context manager: every bar is closed on exit, also when the work raises. :meth:`stage` adapts it to
    a single-stage ``on_progress(done, total)`` callback.

    Args:
        prefix: put before each stage name in the bar's description.
        unit: tqdm's unit.
        **options: more tqdm arguments (e.g. ``dynamic_ncols=True``).
    """

    def __init__(self, prefix: str = "", *, unit: str = "it", **options: Any) -> None:
        self.prefix = prefix
        self.unit = unit
        self.options = options
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=total, desc=f"{self.prefix}{stage}", unit=self.unit, file=sys.stderr, **self.options
            )
        elif bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def stage(self, name: str) -> Callable[[int, int], None]:
        """An ``on_progress(done, total)`` callback that feeds the bar of stage ``name``."""
        return lambda done, total: self(name, done, total)

    def __enter__(self) -> StageBars:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()
