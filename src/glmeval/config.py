"""Configuration: loading, schema validation with actionable messages, cross-references (the
job plan built from it is `glmeval.plan`)."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import yaml

from glmeval.models.families import (
    FAMILIES,
    KMER_MAX_MEMORY_GB,
    NO_NETWORK,
    RANDOM_INIT,
    kmer_width,
)
from glmeval.paths import DOWNLOADS
from glmeval.plan import (
    ProbeJob,
    attribution_jobs,
    attribution_reference,
    explained_run,
    model_settings,
    probe_jobs,
    probe_settings,
)
from glmeval.probes.kinds import FINETUNE_HEADS, LINEAR_PROBES, PROBE_TASK_KINDS, TOKEN_PROBES
from glmeval.storage import GB, BudgetError, sequence_length, task_size, token_storage
from glmeval.vocabulary import INPUT_GRADIENTS, MIN_NULL_DRAWS, TOKENS

#: The kind of task each archive dataset (and splicing) is.
SOURCE_KINDS = {
    "lentimpra": "regression",
    "chip": "binary",
    "eclip": "binary",
    "eclip_multitask": "multilabel",
    "insert_seq": "regression",
    "splicing": "multitask_regression",
}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and what is allowed."""


def _location(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _explain(error: jsonschema.ValidationError, root: dict) -> str:
    """One actionable line for a schema violation: the key, the problem, the allowed values."""
    where = _location(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key(s) {extra}; allowed keys: {allowed}"
    if error.validator in ("enum", "const"):
        allowed = schema.get("enum", [schema.get("const")])
        return f"{where}: {error.instance!r} is not allowed; allowed values: {allowed}"
    if error.validator == "oneOf":
        forms = []
        for option in schema["oneOf"]:
            if "$ref" in option:
                option = root["$defs"][option["$ref"].rsplit("/", 1)[-1]]
            forms.append(option.get("enum") or option.get("required") or option.get("type"))
        return f"{where}: {error.instance!r} matches none of the allowed forms: {forms}"
    if error.validator == "not" and error.validator_value == {}:  # a key this kind forbids
        return f"{where}: not a key of this kind of entry; remove it"
    if error.validator in ("minItems", "minProperties") and not error.instance:
        n = error.validator_value
        return f"{where} is empty; give it at least {n} entr{'y' if n == 1 else 'ies'}"
    return f"{where}: {error.message}"


def _intended_branch(error: jsonschema.ValidationError) -> list | None:
    """The errors of the one oneOf branch a mapping clearly meant: the only branch that has
    the right type and knows the fewest of its keys as unknown (a synthetic source with a
    mistyped n_train is a synthetic source, not a table source with six unknown keys)."""
    if not isinstance(error.instance, dict):
        return None
    branches: dict = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    scores = {}
    for index, subs in branches.items():
        here = [s for s in subs if s.absolute_path == error.absolute_path]
        if any(s.validator == "type" for s in here):
            continue
        extra = [s for s in here if s.validator == "additionalProperties"]
        allowed = set(extra[0].schema.get("properties", {})) if extra else set(error.instance)
        scores[index] = len(set(error.instance) - allowed)
    best = sorted(scores.values())
    if not best or (len(best) > 1 and best[0] == best[1]):
        return None
    return branches[min(scores, key=scores.get)]


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a oneOf failure inside one clearly intended branch, report that branch's problem."""
    if error.validator == "oneOf" and error.context:
        intended = _intended_branch(error)
        if intended is not None:
            return _deepest(jsonschema.exceptions.best_match(intended))
        best = jsonschema.exceptions.best_match(error.context)
        if best.validator == "additionalProperties" or best.absolute_path != error.absolute_path:
            return _deepest(best)
    return error


def schema_errors(config: dict, schema: dict) -> list[str]:
    """Every schema violation of `config`, each explained on one line."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    return [_explain(_deepest(e), schema) for e in errors]


def reference_errors(config: dict) -> list[str]:
    """Names used but not defined, and probe/task/model combinations that cannot work."""
    errors = []
    models, probes = config["models"], config["probes"]
    if not config["tasks"] and not config.get("variants"):
        errors.append(
            "the configuration has neither tasks nor variants; give at least one task (tasks:) "
            "or variants dataset (variants:)"
        )
    for task_name, task in config["tasks"].items():
        for key, defined in (("models", models), ("probes", probes)):
            for name in task[key]:
                if name not in defined:
                    errors.append(
                        f"tasks.{task_name}.{key}: {name!r} is not defined; "
                        f"defined {key}: {sorted(defined)}"
                    )
        for name in task["probes"]:
            kinds = PROBE_TASK_KINDS.get(probes.get(name, {}).get("type"))
            if kinds and task["kind"] not in kinds:
                errors.append(
                    f"tasks.{task_name}.probes: {name!r} is a {probes[name]['type']} probe, "
                    f"which needs a {'/'.join(sorted(kinds))} task; this task is {task['kind']}"
                )
        dataset = task["source"].get(
            "archive", "splicing" if "splicing" in task["source"] else None
        )
        if dataset and task["kind"] != SOURCE_KINDS[dataset]:
            errors.append(
                f"tasks.{task_name}.kind: the {dataset} data is a {SOURCE_KINDS[dataset]} task, "
                f"not {task['kind']}"
            )
        two_sequences = "splicing" in task["source"]
        for name in task["probes"]:
            kind = probes.get(name, {}).get("type")
            if kind == "splice_cnn" and not two_sequences:
                errors.append(
                    f"tasks.{task_name}.probes: {name!r} (splice_cnn) needs a two-sequence "
                    "(splicing) task"
                )
            if two_sequences and kind in TOKEN_PROBES and kind != "splice_cnn":
                errors.append(
                    f"tasks.{task_name}.probes: {name!r} reads one token matrix; a splicing "
                    "task has two (left, right): use splice_cnn, or a pooled probe"
                )
        for model_name in task["models"]:
            if models.get(model_name, {}).get("family") != "kmer":
                continue
            for name in task["probes"]:
                probe = probes.get(name, {})
                if probe.get("type") in TOKEN_PROBES and model_name in probe.get(
                    "models", task["models"]
                ):
                    errors.append(
                        f"tasks.{task_name}.probes: {name!r} is a token-level probe "
                        f"({probe['type']}), and model {model_name!r} (family kmer) has only its "
                        f"pooled k-mer spectra; list the probe's models without it "
                        f"(probes.{name}.models), or drop the probe or the model from the task"
                    )
        for model_name, layers in task.get("probe_layers", {}).items():
            if model_name not in task["models"]:
                errors.append(
                    f"tasks.{task_name}.probe_layers: {model_name!r} is not one of the task's "
                    f"models {task['models']}"
                )
            elif isinstance(layers, list) and model_name in models:
                n_layers = model_settings(config, model_name).get("n_layers", 0)
                if max(layers) > n_layers:
                    errors.append(
                        f"tasks.{task_name}.probe_layers.{model_name}: {max(layers)} is beyond "
                        f"the last layer; allowed: 0..{n_layers}"
                    )
        baseline = task.get("baseline")
        if baseline and (
            baseline["model"] not in task["models"] or baseline["probe"] not in task["probes"]
        ):
            chosen = {key: baseline[key] for key in ("model", "probe")}
            errors.append(
                f"tasks.{task_name}.baseline: {chosen} must name one of the task's models "
                f"{task['models']} and probes {task['probes']}"
            )
        is_table = {"table", "files", "fasta"} & set(task["source"])
        if is_table and "targets" not in task:
            errors.append(f"tasks.{task_name}: a table source needs 'targets' (column names)")
        errors += _split_source_errors(task_name, task["source"])
    defined = config.get("downloads", {})
    for section in ("tasks", "variants"):
        for entry_name, entry in config.get(section, {}).items():
            for name in sorted(downloads_used(entry.get("source", entry))):
                if name not in defined:
                    errors.append(
                        f"{section}.{entry_name}: download {name!r} is not defined; defined "
                        f"downloads: {sorted(defined)}"
                    )
    for variants_name, variants in config.get("variants", {}).items():
        errors += _variants_errors(variants_name, variants, config)
    for probe_name, probe in probes.items():
        for key in ("models", "model_overrides"):
            for name in probe.get(key, []):
                if name not in models:
                    errors.append(
                        f"probes.{probe_name}.{key}: {name!r} is not defined; "
                        f"defined models: {sorted(models)}"
                    )
    for model_name, model in models.items():
        if model["family"] == RANDOM_INIT:
            base = models.get(model["of"])
            if base is None or base["family"] == RANDOM_INIT:
                errors.append(
                    f"models.{model_name}.of: {model['of']!r} must name a defined, pretrained "
                    f"model; defined models: {sorted(models)}"
                )
                continue
        errors += _model_errors(model_name, model_settings(config, model_name), config["tasks"])
    if not errors:
        errors += _finetune_errors(config)
    if not errors:
        errors += _context_errors(config)
    return errors


def _finetune_errors(config: dict) -> list[str]:
    """Fine-tuning (docs/finetuning.md) asked of a model without a language model to train, with
    a head that is not a network or a task of two sequences; its settings on other probes; a
    fine-tuned run asked to be transferred or explained (both read a frozen model)."""
    errors, probes = [], config["probes"]
    for name, probe in probes.items():
        kind = probe.get("finetune")
        if "gradient_checkpointing" in probe and not kind:
            errors.append(
                f"probes.{name}.gradient_checkpointing applies only to fine-tuning probes "
                "(finetune: lora, full or scratch); drop it"
            )
        if "lora" in probe and kind != "lora":
            errors.append(f"probes.{name}.lora applies only to finetune: lora; drop it")
        if kind and isinstance(probe.get("layers"), list):
            errors.append(
                f"probes.{name}.layers: a fine-tuning probe trains under the model's last "
                "layer; drop layers (or give last)"
            )
        if kind and probe["type"] not in FINETUNE_HEADS:
            errors.append(
                f"probes.{name}.type: a fine-tuned model's head is a network on one sequence, "
                f"one of {', '.join(FINETUNE_HEADS)}; not {probe['type']}"
            )
    for task_name, task in config["tasks"].items():
        for name in [p for p in task["probes"] if "finetune" in probes.get(p, {})]:
            where = f"tasks.{task_name}.probes: {name!r}"
            if "splicing" in task["source"]:
                errors.append(
                    f"{where} fine-tunes a model on one sequence per row, and this splicing task "
                    "has two (left, right); drop the probe from the task"
                )
            for model_name in probes[name].get("models", task["models"]):
                if model_name in task["models"]:
                    error = _finetune_model_error(config, where, name, model_name)
                    errors += [error] if error else []
    tuned = {p for p in probes if "finetune" in probes[p]}
    for variants_name, variants in config.get("variants", {}).items():
        for i, entry in enumerate(variants.get("transfer", [])):
            for probe in sorted(tuned & set(entry["probes"])):
                errors.append(
                    f"variants.{variants_name}.transfer[{i}].probes: {probe!r} fine-tunes its "
                    "model, and transfer scores variants with the frozen model's embeddings; "
                    "list frozen probes only"
                )
    for task_name, spec in config.get("attribution", {}).get("tasks", {}).items():
        named = [m.get("probe") for m in spec.get("maps", [])]
        named += [spec.get("gia", {}).get("probe"), spec.get("reference", {}).get("probe")]
        for probe in sorted(tuned & set(named)):
            errors.append(
                f"attribution.tasks.{task_name}: probe {probe!r} fine-tunes its model, and "
                "attribution explains a frozen model's probe; name a frozen probe"
            )
    return errors


def _finetune_model_error(config: dict, where: str, probe_name: str, model_name: str):
    """Why probe `probe_name` cannot fine-tune model `model_name` (None: it can)."""
    model = config["models"][model_name]
    family = FAMILIES[model_settings(config, model_name)["family"]]
    fix = f"list the probe's models without it (probes.{probe_name}.models)"
    if model["family"] == RANDOM_INIT:
        return (
            f"{where}: model {model_name!r} is a random_init control; fine-tuning from random "
            f"weights is finetune: scratch on its model {model['of']!r}: {fix}"
        )
    if family.loader != "transformers":
        return (
            f"{where}: model {model_name!r} (family {family.name}) has no language model to "
            "fine-tune (one-hot, k-mer, features and supervised models are not trained here): "
            f"{fix}, or drop the probe from the task"
        )
    if model_settings(config, model_name).get("precision") == "fp16":
        return (
            f"{where}: model {model_name!r} runs in fp16, whose gradients need loss scaling "
            f"that fine-tuning does not do: set models.{model_name}.precision: bf16 (or fp32)"
        )
    lora = probe_settings(config, probe_name, model_name).get("lora", {})
    if config["probes"][probe_name]["finetune"] == "lora" and not (
        lora.get("target_modules") or family.lora_targets
    ):
        return (
            f"probes.{probe_name}.lora.target_modules: family {family.name} (model "
            f"{model_name!r}) has no default LoRA targets; name its attention and feed-forward "
            f"projections (for this model alone: probes.{probe_name}.model_overrides."
            f"{model_name}.lora.target_modules)"
        )
    return None


def _split_source_errors(task_name: str, source: dict) -> list[str]:
    """Every split comes from exactly one place: its own file or random_split."""
    where = f"tasks.{task_name}.source"
    drawn = sorted(set(source.get("random_split", {})) - {"seed"})
    if "files" not in source:
        return []
    given = set(source["files"])
    errors = [
        f"{where}.random_split: {split!r} is given as its own file too; draw it or give it, "
        "not both"
        for split in drawn
        if split in given
    ]
    absent = [s for s in ("valid", "test") if s not in given and s not in drawn]
    if absent:
        errors.append(
            f"{where}.files: no file for {absent}; give one, or draw them from the train file "
            f"with random_split (e.g. random_split: {{{absent[0]}: 0.1}})"
        )
    return errors


def context_bases(model: dict) -> int | None:
    """The most bases a model takes in one input without windowing, where the configuration
    says: Sei's 4,096, the RBP model's input length, and `max_tokens` tokens of a family whose
    tokens hold a known number of bases at most (per-base families; NT v2's 6-mers). None where
    only the checkpoint knows (checked when it is loaded)."""
    family = FAMILIES[model["family"]]
    if family.input_bases:  # not the model module: it imports torch, and this runs at parse time
        return family.input_bases
    if family.name == "rbp":
        return model.get("source", {}).get("train", {}).get("input_length")
    if model.get("long_sequences") == "window" or family.bases_per_token is None:
        return None
    return model["max_tokens"] * family.bases_per_token if "max_tokens" in model else None


def _context_errors(config: dict) -> list[str]:
    """Inputs longer than a model takes (with windowing off), and |LLR| asked of a model
    without an LM head: caught here, before any job starts."""
    errors = []

    def windowing(name: str) -> str:
        return f"set models.{name}.long_sequences: window with window_bases (language models)"

    for task_name, task in config["tasks"].items():
        length = sequence_length(task)
        for name in task["models"] if length else []:
            limit = context_bases(model_settings(config, name))
            if limit is not None and length > limit:
                errors.append(
                    f"tasks.{task_name}: its {length}-base sequences are longer than model "
                    f"{name!r} takes ({limit} bases); drop the model from it, or " + windowing(name)
                )
    for variants_name, variants in config.get("variants", {}).items():
        zeroshot = variants.get("zeroshot", {})
        for name in zeroshot.get("models", []):
            settings = model_settings(config, name)
            length = zeroshot.get("windows", {}).get(name, variants.get("length"))
            limit = context_bases(settings)
            where = f"variants.{variants_name}.zeroshot"
            if length and limit is not None and length > limit:
                errors.append(
                    f"{where}: the {length}-base windows are longer than model {name!r} takes "
                    f"({limit} bases); give it a shorter window (zeroshot.windows.{name}), or "
                    + windowing(name)
                )
            if FAMILIES[settings["family"]].loader == "features":
                errors.append(
                    f"{where}.models: {name!r} reads its features from a file and has none for "
                    "the variants' sequences; drop it from zeroshot.models"
                )
            if FAMILIES[settings["family"]].loader == "kmer":
                errors.append(
                    f"{where}.models: {name!r} is a k-mer spectrum, with no embedding distance "
                    "or likelihood to score variants by; drop it from zeroshot.models (its "
                    "probes are not transferred to variants either)"
                )
            scores = zeroshot.get("scores", "auto")
            if "llr" in scores and FAMILIES[settings["family"]].head is None:
                errors.append(
                    f"{where}.scores: llr (|LLR|) needs a language model head, and model "
                    f"{name!r} ({settings['family']}) has none; score it with distances "
                    "(cosine, dot, l1, l2) or scores: auto"
                )
    return errors


def _variants_errors(name: str, variants: dict, config: dict) -> list[str]:
    errors = []
    where = f"variants.{name}"
    if variants.get("context") == "genome" and not {"length", "genome"} <= set(variants):
        errors.append(f"{where}: context: genome needs length and genome")
    zeroshot = variants.get("zeroshot", {})
    for model in zeroshot.get("windows", {}):
        if model not in zeroshot["models"]:
            errors.append(
                f"{where}.zeroshot.windows: {model!r} is not one of zeroshot.models "
                f"{zeroshot['models']}"
            )
    for model in variants.get("zeroshot", {}).get("models", []):
        if model not in config["models"]:
            errors.append(
                f"{where}.zeroshot.models: {model!r} is not defined; defined models: "
                f"{sorted(config['models'])}"
            )
    transfer = variants.get("transfer", [])
    listed = [e for entry in transfer for e in entry["elements"]]
    if len(listed) != len(set(listed)):
        errors.append(
            f"{where}.transfer: an element is listed under two tasks; each element is explained "
            "by one task's probes (its cell type)"
        )
    for i, entry in enumerate(transfer):
        task = config["tasks"].get(entry["task"])
        if task is None:
            errors.append(
                f"{where}.transfer[{i}].task: {entry['task']!r} is not defined; defined "
                f"tasks: {sorted(config['tasks'])}"
            )
            continue
        neural = [p for p in task["probes"] if config["probes"][p]["type"] not in LINEAR_PROBES]
        for probe in entry["probes"]:
            if probe not in neural:
                errors.append(
                    f"{where}.transfer[{i}].probes: {probe!r} must be one of the neural probes "
                    f"of task {entry['task']!r}: {neural}"
                )
    return errors


def _model_errors(name: str, model: dict, tasks: dict) -> list[str]:
    errors = []
    family = FAMILIES[model["family"]]
    if family.refusal:
        return [f"models.{name}.family: {family.refusal}"]
    train = model.get("source", {}).get("train")
    if train and family.name != "rbp":
        errors.append(f"models.{name}.source.train: only the rbp family is trained by glmeval")
    binary = sorted(t for t, c in tasks.items() if c["kind"] in ("binary", "multilabel"))
    if train and train["task"] not in binary:
        errors.append(
            f"models.{name}.source.train.task: {train['task']!r} must name a binary or "
            f"multilabel task; such tasks: {binary}"
        )
    revision = model.get("source", {}).get("revision")
    if model.get("remote_code") and family.remote_code == "never":
        errors.append(f"models.{name}.remote_code: family {family.name} never runs remote code")
    runs_remote = family.remote_code == "required" or model.get("remote_code", False)
    if runs_remote and revision is not None and not re.fullmatch(r"[0-9a-f]{40}", revision):
        errors.append(
            f"models.{name}.source.revision is {revision!r}, but this model runs code from its "
            "repository (trust_remote_code), which is allowed only at a pinned revision: give "
            "the full 40-character commit hash (the repository's 'Files and versions' history)"
        )
    if family.loader != "transformers":
        for key in (
            "long_sequences",
            "layer_modules",
            "max_tokens",
            "remote_code",
            "precision",
            "prepend_cls",
            "config_overrides",
        ):
            if key in model:
                errors.append(f"models.{name}.{key} applies only to language-model families")
    if model.get("strands") == "both" and not family.base_aligned:
        errors.append(
            f"models.{name}.strands: both needs states aligned to bases, to flip the reverse "
            f"strand's back; family {family.name}'s are not (a supervised model's outputs have "
            "a fixed orientation, a features file has one strand): use strands: forward"
        )
    if "k" in model and family.name not in ("onehot", "kmer"):
        errors.append(f"models.{name}.k applies only to the onehot and kmer families")
    if family.name == "onehot" and not (
        isinstance(model.get("k", 1), int) and model.get("k", 1) <= 6
    ):
        errors.append(
            f"models.{name}.k: the onehot family takes one k of 1..6 (4**k channels per base); "
            "for longer or several k use family: kmer"
        )
    for key in ("canonical", "scale", "max_memory_gb"):
        if key in model and family.name != "kmer":
            errors.append(f"models.{name}.{key} applies only to the kmer family")
    if family.name == "kmer":
        errors += _kmer_errors(name, model, tasks)
    for key in ("ids", "id_column", "per_token"):
        if key in model and family.name != "features":
            errors.append(f"models.{name}.{key} applies only to the features family")
    if family.name == "features" and not {"path", "download"} & set(model.get("source", {})):
        errors.append(
            f"models.{name}.source: a features model reads a file: give source.path (or a "
            "download and the path inside it)"
        )
    for task_name, task in tasks.items():
        if (
            family.name == "features"
            and name in task.get("models", [])
            and "splicing" in task["source"]
        ):
            errors.append(
                f"tasks.{task_name}.models: {name!r} has one feature vector per row, and the "
                "splicing probes read one per sequence (left and right); drop it from the task"
            )
    if model.get("long_sequences") == "window" and "window_bases" not in model:
        errors.append(f"models.{name}: long_sequences: window needs window_bases")
    layers = model.get("probe_layers", "last")
    n_layers = model.get("n_layers", 0)
    if isinstance(layers, list) and max(layers) > n_layers:
        errors.append(
            f"models.{name}.probe_layers: {max(layers)} is beyond the last layer; "
            f"allowed: 0..{n_layers}"
        )
    return errors


def _kmer_errors(name: str, model: dict, tasks: dict) -> list[str]:
    """A kmer model computes its features from the sequences (no source), and each task's
    dense float16 pooled matrix of them must fit `max_memory_gb`."""
    errors = []
    if "source" in model:
        errors.append(
            f"models.{name}.source: a kmer model computes its spectra from the task's sequences "
            "and reads no checkpoint or file; drop source"
        )
    limit = model.get("max_memory_gb", KMER_MAX_MEMORY_GB)
    columns = kmer_width(model["k"], model.get("canonical", False))
    for task_name, task in tasks.items():
        size = task_size({"tasks": tasks}, task_name) if name in task.get("models", []) else None
        if size is None:
            continue
        need = size.sequences * size.columns * columns * 2 * 2  # float16, cls and mean slots
        if need > limit * GB:
            errors.append(
                f"models.{name}.k: k = {model['k']} gives {columns:,} columns, and the "
                f"{size.sequences:,} sequences of task {task_name!r} make a {need / GB:,.1f} GB "
                f"pooled matrix, above models.{name}.max_memory_gb ({limit:g}); use a smaller k, "
                f"canonical: true, or raise max_memory_gb to at least {need / GB:.1f}"
            )
    return errors


def _alpha_errors(config: dict) -> list[str]:
    """A linear probe's regularisation is fixed (`alpha`) or chosen on validation (`alphas`),
    not both; a grid only for ridge and logistic. Checked before the schema's defaults fill in
    alpha (and a grid probe's filled-in alpha is removed again, `_drop_filled_alphas`); a
    model's override may replace the probe's alpha by a grid, not its grid by an alpha."""
    errors = []
    for name, probe in config.get("probes", {}).items():
        overrides = probe.get("model_overrides", {})
        for where, own, other in [
            (f"probes.{name}", probe, {}),
            *[(f"probes.{name}.model_overrides.{m}", o, probe) for m, o in overrides.items()],
        ]:
            kind = own.get("type", probe["type"])
            if "alphas" in own and kind not in ("ridge", "logistic"):
                errors.append(
                    f"{where}.alphas: a grid of alphas applies only to ridge and logistic "
                    f"probes, not {kind}; drop it"
                )
            elif "alpha" in own and ("alphas" in own or "alphas" in other):
                errors.append(
                    f"{where}: alpha ({own['alpha']:g}) and alphas are given together; "
                    "give alpha for a fixed value or alphas for a grid chosen on the validation "
                    "split, not both"
                )
    return errors


def _drop_filled_alphas(config: dict) -> None:
    """A probe with a grid (`alphas`) has no fixed alpha: the one the schema's default filled in
    is removed (so a validated configuration validates again)."""
    for probe in config.get("probes", {}).values():
        if "alphas" in probe:
            probe.pop("alpha", None)


def _is_file_ref(value) -> bool:
    return isinstance(value, dict) and set(value) == {"download", "path"}


def resolve_files(value):
    """`value` with every {download, path} reference replaced by its local path under
    resources/downloads/<download>/."""
    if _is_file_ref(value):
        return f"{DOWNLOADS}/{value['download']}/{value['path']}"
    if isinstance(value, dict):
        return {k: resolve_files(v) for k, v in value.items()}
    return value


def downloads_used(value) -> set[str]:
    """Names of the downloads a (task or variants) source refers to."""
    if _is_file_ref(value):
        return {value["download"]}
    if isinstance(value, dict):
        return set().union(*(downloads_used(v) for v in value.values()))
    return set()


def downloads_needed(config: dict) -> list[str]:
    """The configured downloads the tasks, variants, models and attribution read."""
    entries = [*config["tasks"].values(), *config.get("variants", {}).values()]
    entries += [m.get("source", {}) for m in config["models"].values()]
    entries.append(config.get("attribution", {}))
    return sorted(set().union(*map(downloads_used, entries)))


#: Source keys that name input files (directly, or one per split).
FILE_KEYS = ("table", "fasta", "labels", "h5", "genome", "cagi5", "vcf", "files", "splicing")


def local_files(source: dict) -> list[str]:
    """Plain local files a source reads (a workflow input; downloads are their own rule)."""
    files = []
    for key in FILE_KEYS:
        value = source.get(key)
        per_split = isinstance(value, dict) and not _is_file_ref(value)
        files += [v for v in (value.values() if per_split else [value]) if isinstance(v, str)]
    return files


def _override_errors(config: dict, schema: dict) -> list[str]:
    """Each probe's settings with a model's overrides applied must be a valid probe."""
    errors = []
    for name, probe in config.get("probes", {}).items():
        for model in probe.get("model_overrides", {}) if isinstance(probe, dict) else []:
            merged = {"probes": {name: probe_settings(config, name, model)}}
            for line in schema_errors(merged, schema):
                if line.startswith(f"probes.{name}"):
                    where = f"probes.{name}.model_overrides.{model}"
                    errors.append(where + line.removeprefix(f"probes.{name}"))
    return errors


#: The configuration schema, shipped with the package (config/schema.yaml links to it).
SCHEMA = Path(__file__).with_name("schema.yaml")


def config_errors(config: dict, schema_path: str | Path = SCHEMA) -> tuple[list[str], bool]:
    """Every fault of `config`, and whether it passed the schema (its defaults are then filled
    in place, and the names it uses can be looked up, defined or not)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = schema_errors(config, schema)
    if not errors:
        errors = _override_errors(config, schema) + _alpha_errors(config)
    if errors:
        return errors, False
    from snakemake.utils import validate  # fills the schema's defaults into config

    validate(config, str(schema_path), set_default=True)
    _drop_filled_alphas(config)
    errors = reference_errors(config)
    if not errors and "attribution" in config:
        errors = attribution_errors(config, probe_jobs(config))
    if not errors and "storage" in config:
        errors = storage_errors(config)
    return errors, True


def storage_errors(config: dict) -> list[str]:
    """A disk budget that cannot hold what must be on disk at once (glmeval.storage)."""
    jobs = probe_jobs(config)
    try:
        token_storage(config, jobs, attribution_jobs(config, jobs))
    except BudgetError as error:
        return [str(error)]
    return []


def invalid_message(errors: list[str]) -> str:
    return "invalid configuration:\n  - " + "\n  - ".join(errors) + "\nNo job was started."


def validate_config(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Validate `config` (filling schema defaults in place); raise ConfigError listing all faults."""
    errors, _ = config_errors(config, schema_path)
    if errors:
        raise ConfigError(invalid_message(errors))
    return config


def read_config(path: str | Path) -> dict:
    """The YAML file at `path`, not validated; a ConfigError names the line to fix."""
    try:
        with open(path) as fh:
            return yaml.safe_load(fh) or {}
    except yaml.YAMLError as err:
        raise ConfigError(
            f"{path} is not valid YAML: {err}\nFix the line it names (indentation, a missing "
            "colon or quote). No job was started."
        ) from None


def load_config(path: str | Path, schema_path: str | Path = SCHEMA) -> dict:
    """The configuration file at `path`, validated; a ConfigError names the file."""
    config = read_config(path)
    try:
        return validate_config(config, schema_path)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


#: The maps a method can be asked of: gradients into the bases need a one-hot model
#: (a tokenizer is not differentiable); embedding gradients need a token-level probe on
#: base-aligned positions; the language model's own maps need its LM head and no probe.
ATTRIBUTION_FIX = {
    "input": "use ism (any model and probe) or embedding_gradient (a token-level probe)",
    "tokens": "use ism",
    "lm": "use ism with one of the task's neural probes",
}


def attribution_errors(config: dict, jobs: list[ProbeJob]) -> list[str]:
    """Maps asked of a model or probe that cannot give them, named with the method that can."""

    errors = []
    draws = config.get("attribution", {}).get("null_draws", MIN_NULL_DRAWS)
    if draws < MIN_NULL_DRAWS:
        errors.append(
            f"attribution.null_draws: {draws} draws are fewer than a chance level needs (each "
            f"tail of the 95 % interval one draw, a p-value able to fall below 0.05); set "
            f"attribution.null_draws to at least {MIN_NULL_DRAWS} (default 100)"
        )
    for task, spec in config.get("attribution", {}).get("tasks", {}).items():
        where = f"attribution.tasks.{task}"
        if task not in config["tasks"]:
            errors.append(f"{where}: {task!r} is not a task; tasks: {sorted(config['tasks'])}")
            continue
        if attribution_reference(config, jobs, task) is None:
            errors.append(
                f"{where}: no reference run to select sequences by: give reference: {{model, "
                "probe}} naming one of the task's runs, or a task baseline"
            )
        entries = [*spec.get("maps", [])] + ([spec["gia"]] if "gia" in spec else [])
        for i, entry in enumerate(entries):
            at = f"{where}.maps[{i}]" if i < len(spec.get("maps", [])) else f"{where}.gia"
            model, probe = entry["model"], entry.get("probe")
            if model not in config["tasks"][task]["models"]:
                errors.append(f"{at}: {model!r} is not one of the task's models")
                continue
            settings = model_settings(config, model)
            family = FAMILIES[settings["family"]]
            if family.loader in NO_NETWORK:
                what = (
                    "reads its features from a file"
                    if family.loader == "features"
                    else ("is a k-mer spectrum, computed without a network")
                )
                errors.append(
                    f"{at}: {model!r} {what}: nothing maps them back to bases, so it cannot "
                    "be explained; choose another model"
                )
                continue
            methods = entry.get("methods", ["ism"])  # GIA predicts like ISM
            if probe is not None:
                run = explained_run(config, jobs, task, model, probe)
                if run is None or config["probes"][probe]["type"] in LINEAR_PROBES:
                    errors.append(
                        f"{at}: {model}/{probe} is not a neural probe run of the task (only "
                        "they keep their weights); choose one of its neural probes"
                    )
                    continue
                if "reverse_entropy" in methods:
                    errors.append(
                        f"{at}: reverse_entropy is the language model's own map; list it "
                        f"without a probe ({{model: {model}, methods: [reverse_entropy]}})"
                    )
                onehot = family.name == "onehot" and settings.get("k", 1) == 1
                for method in INPUT_GRADIENTS:
                    if method in methods and not (onehot and run.representation == TOKENS):
                        errors.append(
                            f"{at}: {method} differentiates the output with respect to one-hot "
                            f"input bases, which {model} ({family.name}) does not take; "
                            + ATTRIBUTION_FIX["input"]
                        )
                aligned = family.loader in ("onehot", "transformers")
                if "embedding_gradient" in methods and not (
                    run.representation == TOKENS and aligned
                ):
                    errors.append(
                        f"{at}: embedding_gradient needs a token-level probe on base-aligned "
                        f"positions ({model}/{probe} reads {run.representation}"
                        f"{'' if aligned else ', positions not base-aligned'}); "
                        + ATTRIBUTION_FIX["tokens"]
                    )
            else:
                if set(methods) - {"reverse_entropy"}:
                    errors.append(
                        f"{at}: {sorted(set(methods) - {'reverse_entropy'})} explain a probe: "
                        "give the probe (a neural probe of the task)"
                    )
                if family.head is None:
                    errors.append(
                        f"{at}: reverse_entropy needs a language model head, and {model} "
                        f"({family.name}) has none; " + ATTRIBUTION_FIX["lm"]
                    )
        gia = spec.get("gia")
        for pair in gia["pairs"] if gia else []:
            unknown = [name for name in pair if name not in gia["motifs"]]
            if unknown:
                errors.append(
                    f"{where}.gia.pairs: {unknown} not among its motifs {sorted(gia['motifs'])}"
                )
    return errors
