"""The model lock file: the commit and files (size, sha256) each hub repo@revision resolved to.

Written on a repo@revision's first resolution; later resolutions download the locked commit and
verify every file, and loads check the snapshot's commit and file sizes against it."""

from __future__ import annotations

import fcntl
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from glmeval.io import atomic_path, sha256_of
from glmeval.models.families import ModelError
from glmeval.models.snapshot import SOURCE_RECORD, hub_files

#: Where `snapshot_download` keeps its bookkeeping inside a snapshot (not model files).
HUB_CACHE = ".cache"


def entry_key(repo: str, revision: str) -> str:
    return f"{repo}@{revision}"


def unpinned_models(config: dict) -> list[str]:
    """A warning for every hub model of `config` whose revision is a branch or tag (not a
    40-character commit) and whose repo@revision the model lock (`models_lock`) does not pin:
    what it downloads can change upstream."""
    lock = config.get("models_lock")
    entries = read_lock(Path(lock)) if lock else {}
    warnings = []
    for name, model in config["models"].items():
        source = model.get("source", {})
        repo, revision = source.get("hub"), source.get("revision", "")
        commit = re.fullmatch("[0-9a-f]{40}", revision)
        if repo and not commit and entry_key(repo, revision) not in entries:
            warnings.append(
                f"models.{name}: {repo}@{revision} is a branch or tag and the model lock {lock} "
                "has no entry for it, so what it downloads can change upstream. Pin a "
                "40-character commit as its revision, or resolve it once (`snakemake models`) "
                "and commit the lock file (docs/models.md, The model lock file)."
            )
    return warnings


def read_lock(lock_path: Path) -> dict:
    """The lock's entries by repo@revision ({} while it does not exist)."""
    if not lock_path.exists():
        return {}
    try:
        return json.loads(lock_path.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(
            f"the model lock file {lock_path} is not valid JSON ({err}). Restore it from version "
            "control, or fix it by hand."
        ) from err


def snapshot_files(root: Path) -> dict[str, dict]:
    """Size and sha256 of every file of the snapshot at `root`, by path relative to it."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] != HUB_CACHE and rel.as_posix() != SOURCE_RECORD:
            files[rel.as_posix()] = {"sha256": sha256_of(path), "size": path.stat().st_size}
    return files


def lock_snapshot(
    name: str, lock_path: Path, repo: str, revision: str, commit: str, root: Path
) -> None:
    """Add the fresh snapshot at `root` to the lock if its repo@revision has no entry yet, else
    verify it against the entry: same commit, every locked file with its size and sha256, no
    other file."""
    files = snapshot_files(root)
    entry = _add(
        lock_path,
        {
            "repo": repo,
            "revision": revision,
            "commit": commit,
            "files": files,
            "resolved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    problems = _commit_problems(entry, commit)
    for rel, want in _locked_files(entry).items():
        got = files.get(rel)
        if got is None:
            problems.append(f"{rel}: missing; locked {_describe(want)}")
        elif got != want:
            problems.append(f"{rel}: locked {_describe(want)}, got {_describe(got)}")
    problems += [f"{rel}: not in the lock" for rel in sorted(set(files) - set(entry["files"]))]
    if problems:
        raise ModelError(
            _mismatch(name, lock_path, entry, problems)
            + f"Rerun `snakemake models` to download commit {entry['commit']} again (a corrupted "
            "transfer), or, if the hub's files really changed, delete the entry "
            f'"{entry_key(repo, revision)}" from {lock_path} deliberately and rerun to lock what '
            "the hub serves now."
        )


def check_snapshot(
    name: str, lock_path: Path, repo: str, revision: str, commit: str | None, root: Path
) -> None:
    """Refuse the snapshot at `root` (recorded at `commit`) if the lock has an entry for
    repo@revision at another commit, or a locked file is missing or has another size."""
    entry = read_lock(lock_path).get(entry_key(repo, revision))
    if entry is None:
        return
    problems = _commit_problems(entry, commit)
    for rel, want in _locked_files(entry).items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing; locked {want['size']} bytes")
        elif path.stat().st_size != want["size"]:
            problems.append(f"{rel}: locked {want['size']} bytes, got {path.stat().st_size}")
    if problems:
        raise ModelError(
            _mismatch(name, lock_path, entry, problems)
            + f"Restore the files: delete {root} and rerun `snakemake models` to snapshot the "
            f"locked commit; or, to re-resolve deliberately, delete the entry "
            f'"{entry_key(repo, revision)}" from {lock_path} and {root}, then rerun `snakemake '
            "models`."
        )


def _add(lock_path: Path, entry: dict) -> dict:
    """The lock's entry for `entry`'s repo@revision, adding `entry` if there is none: a
    read-modify-write under an exclusive flock of a sidecar file, so concurrent jobs lose
    nothing, replacing the lock atomically."""
    key = entry_key(entry["repo"], entry["revision"])
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path.with_name(lock_path.name + ".flock"), "a") as sidecar:
        fcntl.flock(sidecar, fcntl.LOCK_EX)
        entries = read_lock(lock_path)
        if key not in entries:
            entries[key] = entry
            with atomic_path(lock_path) as tmp:
                tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        return entries[key]


def _locked_files(entry: dict) -> dict[str, dict]:
    """The entry's files that a snapshot holds (`hub_files`): an entry written when glmeval
    downloaded more (READMEs, JAX or TensorFlow weights) still pins those it reads."""
    return {rel: entry["files"][rel] for rel in hub_files(entry["files"])}


def _commit_problems(entry: dict, commit: str | None) -> list[str]:
    return [] if entry["commit"] == commit else [f"commit: locked {entry['commit']}, got {commit}"]


def _describe(file: dict) -> str:
    return f"{file['size']} bytes, sha256 {file['sha256']}"


def _mismatch(name: str, lock_path: Path, entry: dict, problems: list[str]) -> str:
    return (
        f"model {name!r}: the snapshot of {entry['repo']}@{entry['revision']} does not match its "
        f"entry in the model lock {lock_path} (commit {entry['commit']}, resolved "
        f"{entry['resolved_at']}):\n  - " + "\n  - ".join(problems) + "\n"
    )
