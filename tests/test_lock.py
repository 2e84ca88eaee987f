"""The model lock file: a first resolution locks the commit and files, later ones download and
verify the locked commit, loads refuse a snapshot that differs, and builders never touch it."""

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from glmeval.config import ConfigError, validate_config
from glmeval.models import SOURCE_RECORD as SOURCE
from glmeval.models import ModelError, load_embedder, resolve_model
from glmeval.models.lock import check_snapshot, unpinned_models
from glmeval.plan import model_settings

REPO = Path(__file__).resolve().parents[1]
LOCK = "config/models.lock.json"
OLD, NEW = "a" * 40, "b" * 40
FILES = {"config.json": b"{}", "model.safetensors": b"weights-v1", "tokenizer.json": b"[]"}
#: On the hub beside them, never downloaded (glmeval.models.hub_files)
UNREAD = {"README.md": b"# m", "jax_model/pytree_ckpt.joblib": b"jax", "tf_model.h5": b"tf"}
FIX = f'delete the entry "org/m@main" from {LOCK}'


def settings(repo="org/m", lock=LOCK):
    model = {"family": "masked_lm", "n_layers": 2, "source": {"hub": repo, "revision": "main"}}
    return {**model, "models_lock": lock} if lock else model


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A fake hub, run from `tmp_path`: `main` points at hub["main"], a commit serves hub[commit];
    hub["downloads"] lists the (repo, commit) pairs downloaded."""
    import huggingface_hub

    monkeypatch.chdir(tmp_path)
    state = {"main": OLD, OLD: dict(FILES), NEW: {**FILES, "config.json": b'{"v": 2}'}}
    state["downloads"] = []

    class Info:
        def __init__(self, sha):
            self.sha = sha
            self.siblings = [Sibling(rel) for rel in {**state[sha], **UNREAD}]

    class Sibling:
        def __init__(self, rfilename):
            self.rfilename = rfilename

    def model_info(self, repo, revision):
        return Info(state[revision] if revision == "main" else revision)

    def snapshot_download(repo, revision, local_dir, allow_patterns):
        state["downloads"].append((repo, revision))
        (local_dir / ".cache" / "huggingface").mkdir(parents=True)  # the hub's bookkeeping
        for rel, data in {**state[revision], **UNREAD}.items():
            if rel in allow_patterns:
                (local_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                (local_dir / rel).write_bytes(data)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return state


def read_lock():
    return json.loads(Path(LOCK).read_text())


def test_first_resolution_locks_commit_and_files(hub):
    resolve_model(settings(), "resources/models/m", "m")
    text = Path(LOCK).read_text()
    entry = json.loads(text)["org/m@main"]
    assert text == json.dumps({"org/m@main": entry}, indent=2, sort_keys=True) + "\n"
    assert {k: entry[k] for k in ("repo", "revision", "commit")} == {
        "repo": "org/m",
        "revision": "main",
        "commit": OLD,
    }
    assert entry["files"] == {
        rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for rel, data in FILES.items()
    }
    assert entry["resolved_at"].endswith("+00:00")
    record = json.loads(Path("resources/models/m/glmeval_source.json").read_text())
    assert record["commit"] == OLD


def test_later_resolution_downloads_the_locked_commit(hub):
    resolve_model(settings(), "first", "m")
    before = Path(LOCK).read_text()
    hub["main"] = NEW  # upstream moved on
    resolve_model(settings(), "second", "m")
    assert hub["downloads"] == [("org/m", OLD), ("org/m", OLD)]
    assert json.loads(Path("second/glmeval_source.json").read_text())["commit"] == OLD
    assert Path("second/config.json").read_bytes() == FILES["config.json"]
    assert Path(LOCK).read_text() == before
    resolve_model(settings(lock=None), "unlocked", "m")  # without a lock: whatever main is
    assert hub["downloads"][-1] == ("org/m", NEW)


def test_changed_or_missing_file_is_a_named_error(hub):
    resolve_model(settings(), "first", "m")
    hub[OLD]["model.safetensors"] = b"weights-v2"  # same size, other bytes
    del hub[OLD]["tokenizer.json"]
    with pytest.raises(ModelError) as err:
        resolve_model(settings(), "second", "m")
    message = str(err.value)
    want, got = (hashlib.sha256(b).hexdigest() for b in (b"weights-v1", b"weights-v2"))
    assert "model 'm': the snapshot of org/m@main does not match" in message
    assert f"model.safetensors: locked 10 bytes, sha256 {want}, got 10 bytes, sha256 {got}" in (
        message
    )
    assert "tokenizer.json: missing; locked 2 bytes" in message
    assert f"download commit {OLD} again" in message and FIX in message


def test_extra_file_is_an_error(hub):
    resolve_model(settings(), "first", "m")
    hub[OLD]["extra.json"] = b"x"
    with pytest.raises(ModelError, match="model 'm'") as err:
        resolve_model(settings(), "second", "m")
    assert "  - extra.json: not in the lock" in str(err.value) and FIX in str(err.value)


def test_an_entry_locked_with_files_glmeval_no_longer_reads_still_holds(hub):
    """An entry written when every file of the repository was downloaded (a README, JAX and
    TensorFlow weights) pins the files a snapshot holds now, and still catches a change."""
    resolve_model(settings(), "first", "m")
    entries = read_lock()
    entries["org/m@main"]["files"] |= {rel: {"sha256": "0" * 64, "size": 1} for rel in UNREAD}
    Path(LOCK).write_text(json.dumps(entries))
    resolve_model(settings(), "second", "m")
    assert sorted(p.name for p in Path("second").iterdir()) == sorted([*FILES, SOURCE, ".cache"])
    check_snapshot("m", Path(LOCK), "org/m", "main", OLD, Path("second"))  # what loads check
    hub[OLD]["config.json"] = b'{"v": 3}'
    with pytest.raises(ModelError, match="config.json: locked 2 bytes"):
        resolve_model(settings(), "third", "m")


def test_concurrent_resolutions_all_land(hub, monkeypatch):
    from glmeval.models import lock

    read = lock.read_lock

    def slow_read(path):  # widen the read-modify-write window
        entries = read(path)
        time.sleep(0.05)
        return entries

    monkeypatch.setattr(lock, "read_lock", slow_read)
    repos = [f"org/m{i}" for i in range(6)]
    start, errors = threading.Barrier(len(repos)), []

    def resolve(repo):
        start.wait()
        try:
            resolve_model(settings(repo), f"resources/models/{repo}", repo)
        except Exception as err:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=resolve, args=(repo,)) for repo in repos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(read_lock()) == [f"{repo}@main" for repo in repos]


def test_load_refuses_a_snapshot_that_differs_from_the_lock(hub, tiny_models):
    checkpoint = {p.name: p.read_bytes() for p in tiny_models["tiny_bert"].iterdir()}
    hub[OLD], hub[NEW] = checkpoint, dict(checkpoint)
    resolve_model(settings(), "resources/models/m", "m")
    assert load_embedder("m", settings(), "resources/models/m").n_layers == 2
    hub["main"] = NEW
    resolve_model(settings(lock=None), "resources/models/stale", "m")  # resolved unlocked
    with pytest.raises(ModelError) as err:
        load_embedder("m", settings(), "resources/models/stale")
    message = str(err.value)
    assert "model 'm': the snapshot of org/m@main does not match" in message
    assert f"commit: locked {OLD}, got {NEW}" in message
    assert "delete resources/models/stale and rerun `snakemake models`" in message
    assert FIX in message
    weights = Path("resources/models/m/model.safetensors")
    weights.write_bytes(weights.read_bytes()[:-1])
    size = len(checkpoint["model.safetensors"])
    with pytest.raises(ModelError, match=f"model.safetensors: locked {size} bytes, got {size - 1}"):
        load_embedder("m", settings(), "resources/models/m")
    assert load_embedder("m", settings(lock=None), "resources/models/stale").n_layers == 2


def test_builders_and_local_models_never_touch_the_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    builder = {"family": "masked_lm", "n_layers": 2, "source": {"builder": "tiny_bert"}}
    resolve_model({**builder, "models_lock": LOCK}, "resources/models/tiny", "tiny")
    assert not Path(LOCK).exists() and not Path("config").exists()
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["hub_m"] = settings(lock=None)
    config["models"]["hub_random"] = {"family": "random_init", "of": "hub_m"}
    config["models"]["local"] = {"family": "masked_lm", "n_layers": 2, "source": {"path": "x"}}
    config = validate_config(config, REPO / "config" / "schema.yaml")
    assert model_settings(config, "hub_m")["models_lock"] == LOCK  # the schema's default
    assert model_settings(config, "hub_random")["models_lock"] == LOCK
    for name in ("tiny_nt", "local", "onehot"):
        assert "models_lock" not in model_settings(config, name)
    config["models_lock"] = 1
    with pytest.raises(ConfigError, match="models_lock: 1 is not of type 'string'"):
        validate_config(config, REPO / "config" / "schema.yaml")


def test_unpinned_hub_models_are_named(tmp_path, monkeypatch):
    """`glmeval check` warns of every hub model at a branch or tag that the lock does not pin."""
    monkeypatch.chdir(tmp_path)
    models = {
        "branch": settings(lock=None),
        "commit": {**settings(lock=None), "source": {"hub": "org/c", "revision": OLD}},
        "locked": {**settings(lock=None), "source": {"hub": "org/l", "revision": "v1"}},
        "random": {"family": "random_init", "of": "branch"},
        "onehot": {"family": "onehot"},
    }
    config = {"models": models, "models_lock": LOCK}
    assert [w.split(":")[0] for w in unpinned_models(config)] == ["models.branch", "models.locked"]
    Path("config").mkdir()
    Path(LOCK).write_text(json.dumps({"org/l@v1": {}}))
    (warning,) = unpinned_models(config)
    assert warning.startswith(
        f"models.branch: org/m@main is a branch or tag and the model lock {LOCK}"
    )
    assert "snakemake models" in warning
