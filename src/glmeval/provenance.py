"""What produced a run's results, for the report's landing page: glmeval's version and commit,
the configuration's hash, the package versions, each model's checkpoint and the devices its
embeddings were computed on (as the probe jobs recorded them from the embeddings they read)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pandas as pd

from glmeval import __version__
from glmeval.io import read_json

PACKAGES = (
    "snakemake",
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "peft",
    "captum",
    "tangermeme",
    "memelite",
)


def config_hash(config: dict) -> str:
    """sha256 of the configuration as canonical JSON (key order and formatting do not count)."""
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def git_commit(directory: str | Path) -> str:
    """The commit checked out at `directory`, `+dirty` when it has uncommitted changes;
    'not a git checkout' otherwise."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(directory), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )

    try:
        head = git("rev-parse", "HEAD")
    except OSError:
        return "git not available"
    if head.returncode:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _checkpoint(model: dict, snapshot: dict | None) -> str:
    source = model.get("source", {})
    if snapshot and snapshot.get("commit"):
        return f"{snapshot.get('hub')}@{snapshot['commit']}"
    if "hub" in source:
        return f"{source['hub']}@{source.get('revision', 'main')}"
    if "download" in source:
        return f"download {source['download']}: {source.get('path', '')}"
    if "builder" in source:
        return f"built offline: {source['builder']}"
    if "path" in source:
        return f"local: {Path(source['path']).name}"
    if model["family"] == "random_init":
        return f"random initialisation of {model['of']} (seed {model.get('seed', 0)})"
    if "train" in source:
        return f"trained here on {source['train'].get('task')}"
    return model["family"]


def provenance(
    models: dict,
    config_sha256: str,
    workflow_dir: str | Path,
    probe_records: Iterable[str | Path],
) -> pd.DataFrame:
    """(section, key, value) rows: `models` as configured, `config_sha256` from `config_hash`;
    each model's snapshot and devices from the probe jobs' records (`runs.json`: what computed
    the embeddings they read)."""
    rows = [
        ("glmeval", "version", __version__),
        ("glmeval", "commit", git_commit(workflow_dir)),
        ("glmeval", "configuration sha256", config_sha256),
        ("environment", "python", platform.python_version()),
        ("environment", "platform", platform.platform()),
    ]
    rows += [("packages", p, _version(p)) for p in PACKAGES]
    seen: dict[str, dict] = {}
    for record in probe_records:
        meta = read_json(record).get("embeddings") or {"model": None}
        entry = seen.setdefault(meta["model"], {"devices": set(), "snapshot": None})
        entry["devices"].add(meta.get("device", "not recorded"))
        entry["snapshot"] = entry["snapshot"] or meta.get("snapshot")
    for name, model in models.items():
        entry = seen.get(name, {"devices": set(), "snapshot": None})
        rows.append(("models", name, _checkpoint(model, entry["snapshot"])))
        if entry["devices"]:
            rows.append(("devices", name, ", ".join(sorted(entry["devices"]))))
    return pd.DataFrame(rows, columns=["section", "key", "value"])


def read_provenance(path: str | Path) -> list[dict]:
    """The rows of a provenance table, or none where it is not written yet."""
    path = Path(path)
    return pd.read_csv(path, dtype=str).to_dict("records") if path.exists() else []
