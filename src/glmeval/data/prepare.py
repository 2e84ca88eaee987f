"""A configured data entry prepared by its reader: the entry points of the workflow's data jobs,
above the readers (which import one another's shared pieces, never this module)."""

from __future__ import annotations

from pathlib import Path

from glmeval.data.cagi5 import prepare_cagi5
from glmeval.data.variants import prepare_variants


def prepare_variant_source(name: str, source: dict, out_dir: str | Path) -> dict:
    """Prepare a configured variants entry: CAGI5 (`cagi5` key) or user variants (`vcf`/`table`)."""
    if "cagi5" in source:
        return prepare_cagi5(name, source, out_dir)
    return prepare_variants(name, source, out_dir)
