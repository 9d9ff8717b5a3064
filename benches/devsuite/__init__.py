"""Development suite (placeholder docstring, replaced below)."""

from __future__ import annotations

from .cases import (
    CASE_POISON,
    CASE_SPECS,
    CASES,
    ROLES,
    DevCase,
    DevSpec,
    all_cases,
    build_case,
)
from .formats import EXTENSIONS, FORMATS, normalise, write_case
from .sources import MIXES, build_mix, has_data

__all__ = [
    "CASES",
    "CASE_POISON",
    "CASE_SPECS",
    "EXTENSIONS",
    "FORMATS",
    "MIXES",
    "ROLES",
    "DevCase",
    "DevSpec",
    "all_cases",
    "build_case",
    "build_mix",
    "has_data",
    "normalise",
    "write_case",
]
