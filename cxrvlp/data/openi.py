"""The 3,955 Open-I (Indiana University) chest X-ray reports, read from the ``torchxrayvision`` wheel.

Pure stdlib (tarfile + ElementTree): locating the archive uses :func:`importlib.util.find_spec`, which finds the
installed ``torchxrayvision`` package without importing it (importing it would import torch).

Reference: Demner-Fushman et al., "Preparing a collection of radiology examinations for distribution and
retrieval", JAMIA 2016 (CC BY-NC-ND 4.0).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cxrvlp.data.records import report_text

logger = logging.getLogger(__name__)

ENV_VAR = "CXRVLP_OPENI_REPORTS"
"""Environment variable that overrides the archive's location (a ``.tgz`` or a directory of XMLs)."""

ARCHIVE_NAME = "NLMCXR_reports.tgz"


@dataclass(frozen=True)
class OpenIReport:
    """One Open-I report.

    Attributes:
        uid: the report id, e.g. ``"CXR1"``.
        image_ids: ids of the report's images, e.g. ``("CXR1_1_IM-0001-3001",)`` (file stems of ``NLMCXR_png/``).
        indication: the INDICATION section ("" when absent).
        comparison: the COMPARISON section ("" when absent).
        findings: the FINDINGS section ("" when absent).
        impression: the IMPRESSION section ("" when absent).
        mesh: MeSH terms (major then automatic), in document order.
    """

    uid: str
    image_ids: tuple[str, ...]
    indication: str
    comparison: str
    findings: str
    impression: str
    mesh: tuple[str, ...]

    @property
    def text(self) -> str:
        """``"FINDINGS: ... IMPRESSION: ..."`` with only the parts present ("" when both are empty)."""
        return report_text(self.findings, self.impression)


def default_archive() -> Path:
    """Locate the Open-I report archive.

    Order: ``$CXRVLP_OPENI_REPORTS``; then ``torchxrayvision/data/NLMCXR_reports.tgz`` of the installed wheel.

    Raises:
        FileNotFoundError: with an install hint when neither exists.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env)
        if not path.exists():
            raise FileNotFoundError(f"${ENV_VAR} points to {path}, which does not exist")
        return path
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidate = Path(root) / "data" / ARCHIVE_NAME
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"Open-I reports not found: install torchxrayvision (`pip install torchxrayvision`, it ships "
        f"data/{ARCHIVE_NAME}) or set ${ENV_VAR} to the .tgz or to a directory of the XML files"
    )


def _text(elem: ET.Element | None) -> str:
    return " ".join((elem.text or "").split()) if elem is not None else ""


def parse_report_xml(data: bytes | str) -> OpenIReport:
    """Parse one Open-I ``eCitation`` XML document into an :class:`OpenIReport`."""
    root = ET.fromstring(data)
    uid_elem = root.find("uId")
    uid = uid_elem.get("id", "") if uid_elem is not None else ""
    sections = {el.get("Label", "").upper(): _text(el) for el in root.iter("AbstractText")}
    mesh_elem = root.find("MeSH")
    mesh = tuple(_text(el) for el in mesh_elem) if mesh_elem is not None else ()
    images = tuple(el.get("id", "") for el in root.iter("parentImage"))
    return OpenIReport(
        uid=uid,
        image_ids=images,
        indication=sections.get("INDICATION", ""),
        comparison=sections.get("COMPARISON", ""),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh=tuple(m for m in mesh if m),
    )


def _uid_key(report: OpenIReport) -> tuple[int, str]:
    digits = "".join(ch for ch in report.uid if ch.isdigit())
    return (int(digits) if digits else -1, report.uid)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> tuple[OpenIReport, ...]:
    p = Path(path)
    reports: list[OpenIReport] = []
    if p.is_dir():
        for xml_path in sorted(p.rglob("*.xml")):
            reports.append(parse_report_xml(xml_path.read_bytes()))
    else:
        with tarfile.open(p, "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".xml"):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        reports.append(parse_report_xml(fh.read()))
    reports.sort(key=_uid_key)
    logger.debug("read %d Open-I reports from %s", len(reports), p)
    return tuple(reports)


def load_openi_reports(path: str | Path | None = None) -> list[OpenIReport]:
    """Read the Open-I reports, sorted by numeric uid (``CXR1``, ``CXR2``, ...).

    Args:
        path: a ``.tgz`` archive or a directory of XML files; default :func:`default_archive`.

    Returns:
        A new list of the 3,955 reports (the parsed corpus is cached in-process per path).

    Raises:
        FileNotFoundError: when the archive cannot be found.
    """
    resolved = Path(path) if path is not None else default_archive()
    if not resolved.exists():
        raise FileNotFoundError(f"Open-I reports not found at {resolved}")
    return list(_load(str(resolved.resolve())))
