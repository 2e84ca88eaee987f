"""What `glmeval check` verifies beyond the schema and the names: that every file the
configuration names is there (or will be), and that each local checkpoint fits its entry.

Both run on a login node, in a second or two, without torch: a checkpoint is read from its
`config.json` and tokenizer files, never its weights. Paths are relative to the working
directory, where snakemake runs.

- Files: a local path must exist, unless the workflow writes it (under `results/` or
  `resources/{data,models,variants,motifs}/`); a path inside a download must exist once that
  download is fetched into `resources/downloads/<name>/` (before, it is taken on trust), or the
  derived file the loader reads in its place must (lentiMPRA's `{cell}_data.h5`, splicing's
  `delta_logit.h5`, CAGI5's `{length}/` files; glmeval.data).
- Checkpoints (`source.path`, a fetched download's `path`, a hub snapshot already in
  `resources/models/`): the layer count against `n_layers` (as `load_embedder` counts it), the
  LM head that likelihood scores and the LM's own maps need (the head class its `architectures`
  name, as the head loader would load it), and a token for each of A, C, G and T.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from glmeval.config import FILE_KEYS, downloads_needed
from glmeval.models.families import FAMILIES, RANDOM_INIT
from glmeval.paths import DOWNLOADS
from glmeval.plan import model_settings

#: Where the workflow writes: a configured path under one of these is made by a rule.
PRODUCED = ("results/", "resources/data/", "resources/models/", "resources/variants/")
PRODUCED += ("resources/motifs/",)
#: The class name endings of a checkpoint's `architectures` that carry each kind of LM head.
HEAD_CLASSES = {
    "masked_lm": ("ForMaskedLM", "ForPreTraining"),
    "causal_lm": ("ForCausalLM", "LMHeadModel"),
}
#: The config keys that count a checkpoint's blocks (hf.py's order).
LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers")
BASES = "ACGT"
SNAPSHOT_RECORD = "glmeval_source.json"  # glmeval.models.SOURCE_RECORD
#: The derived CAGI5 files read for genome context when the raw ones are absent (data.cagi5).
CAGI5_DERIVED = ("CAGI_onehot.h5", "final_cagi_metadata.csv")
#: The repository the workflow runs from (paper_values ship with it).
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Checks:
    """Problems that stop a run (one line each, naming the key and the fix) and notes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_config(config: dict, root: str | Path = ".") -> Checks:
    """The files and checkpoints of `config` (schema-valid, defaults filled), for a workflow
    run from `root`."""
    result = Checks()
    root = Path(root)
    fetched = _fetched(config, root)
    for where, key, value, source in _named_files(config):
        problem = _file_problem(where, key, value, source, root, fetched, config)
        if problem:
            result.problems.append(problem)
    for name in config["models"]:
        _check_model(config, name, root, fetched, result)
    for variants, entry in config.get("variants", {}).items():
        zeroshot = entry.get("zeroshot", {})
        for name in zeroshot.get("models", []) if zeroshot.get("scores") == "auto" else []:
            family = _family(config, name)
            if family is not None and family.head is None:
                result.notes.append(
                    f"variants.{variants}.zeroshot: models.{name}: scores auto drops llr: "
                    f"family {family.name} is not a language model"
                )
    waiting = sorted(set(downloads_needed(config)) & set(config.get("downloads", {})) - fetched)
    if waiting:
        result.notes.append(
            f"downloads not fetched yet ({', '.join(waiting)}): the paths inside them are "
            "checked once `snakemake download` has fetched them"
        )
    return result


def _fetched(config: dict, root: Path) -> set[str]:
    """The configured downloads already complete under resources/downloads/."""
    names = [n for n in config.get("downloads", {}) if (root / DOWNLOADS / n).is_dir()]
    if not names:
        return set()
    from glmeval.download import is_downloaded  # imports requests: only when there are some

    return {n for n in names if is_downloaded(config["downloads"][n], root / DOWNLOADS / n)}


def _family(config: dict, name: str):
    """Model `name`'s family (a random_init control's: its base model's); None if undefined."""
    model = config["models"].get(name, {})
    if model.get("family") == RANDOM_INIT:
        model = config["models"].get(model.get("of"), {})
    return FAMILIES.get(model.get("family"))


def _named_files(config: dict):
    """(where, key, value, the source it belongs to) of every file the configuration names."""
    for section in ("tasks", "variants"):
        for entry_name, entry in config.get(section, {}).items():
            source = entry["source"] if section == "tasks" else entry
            for key in FILE_KEYS:
                value = source.get(key)
                where = f"{section}.{entry_name}{'.source' * (section == 'tasks')}.{key}"
                if isinstance(value, dict) and set(value) != {"download", "path"}:
                    for split, file in value.items():
                        yield f"{where}.{split}", key, file, source
                elif value is not None:
                    yield where, key, value, source
    for name, model in config["models"].items():
        source = model.get("source", {})
        if "path" in source:
            if "download" in source:
                yield f"models.{name}.source", "path", dict(source), source
            else:
                yield f"models.{name}.source.path", "path", source["path"], source
        if "ids" in model:
            yield f"models.{name}.ids", "ids", model["ids"], source
    motifs = config.get("attribution", {}).get("motifs", "synthetic")
    if motifs != "synthetic":
        yield "attribution.motifs", "motifs", motifs, {}
    if config.get("paper_values"):
        yield "paper_values", "paper_values", config["paper_values"], {}


def _file_problem(where, key, value, source, root, fetched, config) -> str | None:
    if isinstance(value, dict):  # {download, path}
        download, inside = value["download"], value["path"]
        if download not in config.get("downloads", {}):
            if where.startswith(("tasks.", "variants.")):
                return None  # a configuration error already (config.reference_errors)
            defined = sorted(config.get("downloads", {}))
            return f"{where}: download {download!r} is not defined; defined downloads: {defined}"
        if download not in fetched:
            return None
        base = root / DOWNLOADS / download
        if (base / inside).exists() or _derived_present(key, base / inside, source, root, fetched):
            return None
        return (
            f"{where}: the download {download!r} is fetched, and {inside} is not in it "
            f"({DOWNLOADS}/{download}/){_suggestion(base / inside, base)}; fix the path "
            "inside the download"
        )
    if value.startswith(PRODUCED) or (root / value).exists():
        return None
    if value.startswith(f"{DOWNLOADS}/"):
        download = value.split("/")[2]
        if download in config.get("downloads", {}) and download not in fetched:
            return None
    if key == "paper_values" and (REPOSITORY / value).is_file():  # shipped with the workflow
        return None
    return (
        f"{where}: {value} does not exist (paths are relative to the working directory, where "
        f"snakemake runs){_suggestion(root / value, root)}; fix the path"
    )


def _derived_present(key: str, path: Path, source: dict, root: Path, fetched: set[str]) -> bool:
    """Whether the derived file a loader reads in place of an absent raw one is there (or may
    be: in a download not fetched yet)."""
    if key == "h5" and source.get("archive") == "lentimpra" and path.name.startswith("lentiMPRA_"):
        cell = path.name.removeprefix("lentiMPRA_").removesuffix(".h5")
        return path.with_name(f"{cell}_data.h5").is_file()
    if "splicing" in source and key in ("splicing", "genome"):
        here = _located(source["splicing"]["train"], root, fetched)
        if here is None:
            return True
        derived = [here.parent.parent / "alternative_splicing", here.parent]
        return any((d / "delta_logit.h5").is_file() for d in derived)
    if "cagi5" in source and source.get("context") == "genome" and "length" in source:
        directory = _located(source["cagi5"], root, fetched)
        if directory is None:
            return True
        derived = directory.parent / str(source["length"])
        return all((derived / f).is_file() for f in CAGI5_DERIVED)
    return False


def _located(value, root: Path, fetched: set[str]) -> Path | None:
    """Where a file reference points; None inside a download not fetched yet."""
    if isinstance(value, dict):
        if value["download"] not in fetched:
            return None
        return root / DOWNLOADS / value["download"] / value["path"]
    return root / value


def _suggestion(path: Path, base: Path) -> str:
    """'; did you mean X?' for the nearest existing directory's closest entry, or where the
    path stops existing."""
    parent = path.parent
    while parent != base and not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return ""
    if parent != path.parent:
        missing = path.parent.relative_to(parent).parts[0]
        near = difflib.get_close_matches(missing, [p.name for p in parent.iterdir()], n=1)
        shown = _shown(parent / (near[0] if near else missing), base)
        return f"; no directory {_shown(parent / missing, base)}" + (
            f" (did you mean {shown}?)" if near else ""
        )
    near = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=1)
    return f"; did you mean {_shown(parent / near[0], base)}?" if near else ""


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base)) if str(base) != "." else str(path)
    except ValueError:
        return str(path)


def _checkpoint(config: dict, name: str, root: Path, fetched: set[str]) -> Path | None:
    """The local checkpoint directory model `name` reads, if it is there to open."""
    source = config["models"][name].get("source", {})
    if "download" in source:
        if source["download"] not in fetched:
            return None
        path = root / DOWNLOADS / source["download"] / source["path"]
    elif "path" in source:
        path = Path(source["path"])
        path = path if path.is_absolute() else root / path
    elif "hub" in source:  # a snapshot `snakemake models` already made
        path = root / "resources" / "models" / name
        if not (path / SNAPSHOT_RECORD).is_file():
            return None
    else:  # a builder or a trained model: made by the workflow from this entry
        return None
    return path if path.is_dir() else None


def _check_model(config: dict, name: str, root: Path, fetched: set[str], result: Checks):
    model = config["models"][name]
    if model["family"] == RANDOM_INIT:
        return  # its base model's checkpoint is checked under the base's name
    family = FAMILIES[model["family"]]
    if family.loader != "transformers":
        return
    path = _checkpoint(config, name, root, fetched)
    if path is None:
        return
    try:
        spec = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as err:
        result.problems.append(
            f"models.{name}.source: {path} holds no readable config.json "
            f"({type(err).__name__}), so it is not a save_pretrained checkpoint directory; "
            f"point models.{name}.source at the directory that holds config.json"
        )
        return
    spec.update(model.get("config_overrides", {}))
    settings = model_settings(config, name)
    layers = _layer_count(spec, family, settings)
    if layers is not None and layers[0] != settings.get("n_layers", 0):
        result.problems.append(
            f"models.{name}.n_layers is {settings.get('n_layers', 0)} but the checkpoint at "
            f"{path} has {layers[0]} layers ({layers[1]} in its config.json). Set n_layers: "
            f"{layers[0]}."
        )
    missing = _missing_bases(path)
    if missing:
        result.problems.append(
            f"models.{name}: the tokenizer at {path} has no token for {', '.join(missing)}, "
            "so such bases would be read as unknown tokens: is it a DNA model's checkpoint? "
            f"Fix models.{name}.source"
        )
    head = _head(spec, family)
    if head is None or head[0]:
        return
    other = next(
        (
            kind
            for kind, ends in HEAD_CLASSES.items()
            if any(c.endswith(ends) for c in spec["architectures"])
        ),
        None,
    )
    if other is not None:  # the other kind of LM: the family is wrong, not the checkpoint
        result.problems.append(
            f"models.{name}.family: {family.name}, but the checkpoint at {path} is a {other} "
            f"({head[1]}), which the {family.name} loader cannot load. Set family: {other}"
        )
        return
    why = f"the checkpoint at {path} has no LM head ({head[1]})"
    _head_uses(config, name, why, result)


def _layer_count(spec: dict, family, settings: dict) -> tuple[int, str] | None:
    """(blocks, the key counted) as load_embedder counts them; None where only the loaded
    model knows (modules of the entry's own `layer_modules`)."""
    if family.downsamples:  # a U-Net: its stem and its output
        return None if family.downsamples not in spec else (1, "a U-Net")
    if settings.get("layer_modules"):
        return None
    key = next((k for k in LAYER_KEYS if spec.get(k) is not None), None)
    return None if key is None else (int(spec[key]), key)


def _head(spec: dict, family) -> tuple[bool, str] | None:
    """(whether the head loader finds an LM head, the architectures it read), or None where
    config.json does not say."""
    classes = spec.get("architectures") or []
    if not classes or family.head is None:
        return None
    has = any(c.endswith(HEAD_CLASSES[family.head]) for c in classes)
    return has, f"its config.json architectures: {', '.join(classes)}"


def _head_uses(config: dict, name: str, why: str, result: Checks) -> None:
    """Likelihood scores and LM maps asked of model `name`, whose checkpoint has no head."""
    for variants, entry in config.get("variants", {}).items():
        zeroshot = entry.get("zeroshot", {})
        if name not in zeroshot.get("models", []):
            continue
        scores = zeroshot.get("scores", "auto")
        where = f"variants.{variants}.zeroshot"
        if scores == "auto":
            result.notes.append(
                f"{where}: models.{name}: scores auto drops llr: {why}; it is scored with "
                "cosine, dot, l1, l2"
            )
        elif "llr" in scores:
            result.problems.append(
                f"{where}.scores: llr (|LLR|) needs a language model head, and {why}; score "
                f"model {name!r} with distances (cosine, dot, l1, l2) or scores: auto"
            )
    for task, spec in config.get("attribution", {}).get("tasks", {}).items():
        for i, entry in enumerate(spec.get("maps", [])):
            if entry["model"] == name and "reverse_entropy" in entry.get("methods", []):
                result.problems.append(
                    f"attribution.tasks.{task}.maps[{i}]: reverse_entropy needs a language "
                    f"model head, and {why}; use ism with one of the task's neural probes"
                )


def _missing_bases(path: Path) -> list[str]:
    """Bases none of the tokenizer's tokens spell (as a token of its own, or inside k-mers of
    DNA letters); none where its files do not list the vocabulary (sentencepiece, code)."""
    vocab = _vocabulary(path)
    if not vocab:
        return []
    tokens = {t.lstrip("#▁Ġ").upper() for t in vocab}
    dna = {t for t in tokens if t and set(t) <= set("ACGTN")}
    return [b for b in BASES if b not in tokens and not any(b in t for t in dna)]


def _vocabulary(path: Path) -> list[str]:
    tokens: list[str] = []
    fast = path / "tokenizer.json"
    if fast.is_file():
        try:
            spec = json.loads(fast.read_text())
        except (OSError, ValueError):
            return []
        vocab = (spec.get("model") or {}).get("vocab") or {}
        tokens = list(vocab) if isinstance(vocab, dict) else [v[0] for v in vocab]
        tokens += [t["content"] for t in spec.get("added_tokens", [])]
    elif (path / "vocab.txt").is_file():
        tokens = (path / "vocab.txt").read_text().split()
    elif (path / "vocab.json").is_file():
        tokens = list(json.loads((path / "vocab.json").read_text()))
    elif (path / "tokenizer_config.json").is_file():  # a character tokenizer's own code
        characters = json.loads((path / "tokenizer_config.json").read_text()).get("characters")
        tokens = list(characters or [])
    return tokens
