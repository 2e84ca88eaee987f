import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared real data and models; tests using it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set GLMEVAL_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, build in BUILDERS.items():
        build(root / name, n_layers=2)
        paths[name] = root / name
    return paths
