"""Shared test setup: offline Hugging Face, markers that skip when their resource is absent, and a guard that fails
any test skipped for another reason (a skipped test proves nothing; ``-rs`` in pyproject prints every reason)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CXRVLP_SHARED_DATA", REPO.parent / "shared" / "data"))


NO_DATA_REASON = "real data not found at"
NO_GPU_REASON = "no CUDA device"
NO_CHROMIUM_REASON = "chromium is not installed"
OPTIONAL_EXTRA_REASON = "needs the optional extra"
ALLOWED_SKIPS = re.compile(
    "|".join(re.escape(r) for r in (NO_DATA_REASON, NO_GPU_REASON, NO_CHROMIUM_REASON, OPTIONAL_EXTRA_REASON))
)
"""The only acceptable reasons to skip: no ../shared data, no GPU, no Chromium, an optional extra not installed
(``pip install -e ".[open_clip]"``; ``.ci/run`` installs it, so CI runs those tests). Anything else fails."""


def skip_reason(longrepr: object) -> str:
    """The message of a skip report (``(file, line, "Skipped: reason")``)."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report.longrepr)
        if not ALLOWED_SKIPS.search(reason):
            report.outcome = "failed"
            report.longrepr = (
                f"skipped for a reason CI does not accept: {reason!r} (only no GPU / no ../shared data / "
                "no Chromium / a missing optional extra may skip a test; see tests/conftest.py)"
            )


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing is a broken install, reported elsewhere
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_data = pytest.mark.skip(reason=f"{NO_DATA_REASON} {SHARED_DATA}")
    skip_gpu = pytest.mark.skip(reason=NO_GPU_REASON)
    has_data = SHARED_DATA.is_dir()
    has_gpu = None
    for item in items:
        if "shared_data" in item.keywords and not has_data:
            item.add_marker(skip_data)
        if "gpu" in item.keywords:
            if has_gpu is None:
                has_gpu = _has_cuda()
            if not has_gpu:
                item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data (tests using it must be marked ``shared_data``)."""
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest leaves ``sys.modules["__main__"]`` pointing at the app script; a later
    ``multiprocessing`` spawn would then re-run the app in every child. Put the real one back after each test."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def app(monkeypatch):
    """The app (``app.py``, Streamlit's AppTest) on ``preset:tiny``, home page run once (test_app_pages, _robust)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CXRVLP_MODEL", "preset:tiny")
    import cxrvlp.ui.state as state

    monkeypatch.setattr(state, "DEFAULT_SPEC", "preset:tiny")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at
