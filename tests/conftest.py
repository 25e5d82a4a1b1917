"""Shared fixtures: tiny seeded images in a temp folder, the BSData checkout, TensorFlow kept quiet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from olkit.paths import bsdata_source


@pytest.fixture(scope="session")
def bsdata_dir() -> Path:
    """The real BSData checkout beside the project; tests that need it skip with the reason when absent."""
    path = bsdata_source()
    if not (path / "image_data.json").is_file():
        pytest.skip(f"BSData checkout not found at {path} (set OLKIT_BSDATA to a checkout)")
    return path
