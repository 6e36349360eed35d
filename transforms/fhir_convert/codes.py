"""Code tables for HL7 v2 -> FHIR: CSV files an analyst can edit.

``configs/code_tables/hl7v2_fhir/`` holds ``code_systems.csv`` (HL7 coding-system name ->
FHIR system URI) and one CSV per value map (``<map>.csv``: ``hl7_code,code,display,system``;
an empty ``code`` keeps the HL7 code, a missing row leaves the code unmapped).
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

TABLES = Path("configs") / "code_tables" / "hl7v2_fhir"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / TABLES  # in a source checkout
EXAMPLE_CODE_SYSTEM = "http://example.com/v2-to-fhir-converter/CodeSystem/"
EXAMPLE_IDENTIFIER = "http://example.com/v2-to-fhir-converter/Identifier/"

Coding = dict[str, str]


def table_dir() -> Path:
    """The code-table folder: ``PLEXUS_FHIR_CODE_TABLES``, else ``configs/code_tables/
    hl7v2_fhir`` under the working directory (where `plexus run` finds its settings, e.g. in
    the container), else the one next to the source."""
    return _folder(os.environ.get("PLEXUS_FHIR_CODE_TABLES") or "", os.getcwd())


@lru_cache(maxsize=8)
def _folder(override: str, cwd: str) -> Path:
    if override:
        return Path(override)
    here = Path(cwd) / TABLES
    return here if (here / "code_systems.csv").is_file() else DEFAULT_DIR


@lru_cache(maxsize=8)
def _systems(folder: Path) -> dict[str, str]:
    """code_systems.csv as {HL7 name: URI} (names are case-sensitive)."""
    path = folder / "code_systems.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["hl7"].strip(): row["uri"].strip() for row in csv.DictReader(fh)}


@lru_cache(maxsize=256)
def _map(folder: Path, name: str) -> dict[str, Coding]:
    """One value map as {hl7 code: coding}."""
    path = folder / f"{name}.csv"
    if not path.exists():
        raise KeyError(f"no code table {name!r} in {folder}")
    out: dict[str, Coding] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["hl7_code"].strip()
            coding = {"code": (row.get("code") or "").strip() or code,
                      "display": (row.get("display") or "").strip(),
                      "system": (row.get("system") or "").strip()}
            out.setdefault(code, {k: v for k, v in coding.items() if v})
    return out


def reload() -> None:
    """Forget cached tables (after an analyst edited a CSV)."""
    _systems.cache_clear()
    _map.cache_clear()


def system_uri(name: str, identifier: bool = False) -> str:
    """FHIR system URI for an HL7 coding-system name (CWE.3, CX.4 ...)."""
    if not name:
        return ""
    known = _systems(table_dir()).get(name.strip())
    if known is not None:
        return known
    if name.startswith(("http://", "https://", "urn:")):
        return name
    if _is_oid(name):
        return f"urn:oid:{name}"
    base = EXAMPLE_IDENTIFIER if identifier else EXAMPLE_CODE_SYSTEM
    return base + name.replace(" ", "-")


def lookup(table: str, code: str) -> Coding | None:
    """The FHIR coding an HL7 code maps to in `table` (None when unmapped or empty)."""
    if not code:
        return None
    entries = _map(table_dir(), table)
    found = entries.get(code)
    return dict(found) if found is not None else None


def _is_oid(text: str) -> bool:
    """True for a dotted numeric OID such as 2.16.840.1.113883.6.1."""
    parts = text.split(".")
    return len(parts) > 2 and all(p.isdigit() for p in parts)
