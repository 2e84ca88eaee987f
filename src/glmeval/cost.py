"""What a configuration costs before it runs (`glmeval check --cost`): per rule, the jobs, the
SLURM submissions after the profile's grouping, GPU-hours of forward passes and of probe
training, CPU-hours, disk at its peak and at the end, and the largest job's memory.

Everything is counted from the plan (`glmeval.run_plan`) and the sizes the configuration gives
(`glmeval.storage`): no file is read but the profile. Times are work over throughput plus fixed
costs, each constant below with the measurement it came from (docs/benchmarks.md, Cost model).
Probe training is counted at `max_epochs` (an upper bound: early stopping ends most runs
sooner). Attribution, GIA and the supervised RBP model's training are counted as jobs, not
hours.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from glmeval import cards, plan, storage
from glmeval.config import context_bases
from glmeval.models.families import FAMILIES
from glmeval.probes.kinds import LINEAR_PROBES
from glmeval.run_plan import RunPlan
from glmeval.vocabulary import STRAND_VIEWS, TOKENS

# ---------------------------------------------------------------- the cost model's constants
#: Forward passes of a language model on a GPU, FLOP/s sustained in bf16 (about a third of an
#: A100's peak): the paper's one timed run (NT 2.5B, CAGI5 ref and alt passes, 24 min on an A100)
#: is 31 min by this count (docs/paper.md, Cost).
GPU_FLOPS = 1e14
#: Probe training on a GPU: small networks reach a tenth of that (assumed; no GPU was lent to
#: measure it).
GPU_PROBE_FLOPS = 1e13
#: On this project's 2-core CPU, one thread as a workflow job (benchmarks/cost_model.py,
#: 2026-12-06): a language model's forward pass (fitted with the next two over four stand-in
#: shapes), a neural probe's training (the median of the paper's token CNNs, 3.0e10-4.8e10),
#: a linear probe's fit.
CPU_FLOPS = 1.55e11
CPU_PROBE_FLOPS = 3.67e10
CPU_LINEAR_FLOPS = 1.5e10
#: Seconds per number of every layer's states on the CPU besides the FLOPs (element-wise work:
#: norms, activations, softmax), and per token (tokenizing, batching, pooling, writing: the
#: same on a GPU node, whose CPU does them).
CPU_STATE_SECONDS = 8.44e-8
TOKEN_SECONDS = 8.58e-6
#: Seconds every job pays to start: a Snakemake script job importing glmeval's modules.
JOB_SECONDS = 2.78
#: Seconds to load a language model besides reading its weights (transformers imported, the
#: model built); its weights are read at READ_MB_PER_S.
LOAD_SECONDS = 4.1
#: Seconds of a probe run besides its epochs (labels, predictions, metrics and files).
RUN_SECONDS = 0.06
#: Token matrices streamed from disk once per epoch (probes on tokens) and weights read, MB/s
#: (assumed: a shared filesystem; the validation's files sat in the page cache).
READ_MB_PER_S = 500
#: A logistic probe's solver iterations over the data (L-BFGS).
LOGISTIC_ITERATIONS = 100
#: Shares of a task's sequences in train, valid and test where the configuration does not say.
SPLIT_SHARES = {"train": 0.8, "valid": 0.1, "test": 0.1}
#: Memory of a job besides its data: interpreter, torch, CUDA context, a few batches (MB).
BASE_MEM_MB = 4000
#: Bytes of a float32 number (weights, features in memory, probe weights).
MEMORY_BYTES = 4

GPU, CPU = "gpu", "cpu"


@dataclass
class RuleCost:
    """One rule's cost; hours are None where the model does not count them."""

    rule: str
    jobs: int = 0
    submissions: int = 0
    gpu_forward_hours: float | None = 0.0
    gpu_training_hours: float | None = 0.0
    cpu_hours: float | None = 0.0
    disk_bytes: float = 0.0
    max_mem_mb: float = 0.0
    job_seconds: list[float] = field(default_factory=list, repr=False)

    def add(self, seconds: float | None, device: str, kind: str, mem_mb: float = 0.0) -> None:
        """One job of `seconds` (None: not counted) on `device`."""
        self.jobs += 1
        self.max_mem_mb = max(self.max_mem_mb, mem_mb)
        if seconds is None:
            self.gpu_forward_hours = self.gpu_training_hours = self.cpu_hours = None
            return
        self.job_seconds.append(seconds)
        attribute = "cpu_hours" if device == CPU else f"gpu_{kind}_hours"
        if getattr(self, attribute) is not None:
            setattr(self, attribute, getattr(self, attribute) + seconds / 3600)


#: The rules that run on a GPU where no profile says (those `profiles/slurm` gives one).
GPU_RULES = frozenset(
    {
        "extract_embeddings",
        "extract_token_states",
        "train_probes",
        "finetune",
        "train_rbp_model",
        "zeroshot_scores",
        "transfer_effects",
        "attribution_maps",
        "attribution_gia",
    }
)


@dataclass
class Profile:
    """What a Snakemake profile changes in the count: the rules that run on a GPU, and jobs
    grouped into one submission (`groups` and `group-components`)."""

    gpu_rules: frozenset[str] = GPU_RULES
    group_size: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str | Path | None) -> Profile:
        import yaml

        path = Path(directory or "") / "config.yaml"
        if directory is None or not path.is_file():
            return cls()
        profile = yaml.safe_load(path.read_text())
        gpu = {r for r, s in profile.get("set-resources", {}).items() if s.get("gpu")}
        groups = dict(item.split("=") for item in profile.get("groups", []))
        sizes = dict(item.split("=") for item in profile.get("group-components", []))
        return cls(frozenset(gpu), {rule: int(sizes.get(g, 1)) for rule, g in groups.items()})


#: Rules that run on the machine running Snakemake (`localrule: True`): no submission.
LOCAL_RULES = frozenset(
    {
        "synthetic_motifs",
        "attribution_selection",
        "fetch_download",
        "resolve_model",
        "task_table",
        "probe_metrics",
        "model_cards",
        "model_table",
        "leakage_table",
        "paper_comparison",
        "provenance",
        "figure",
        "figure_index",
        "variant_tables",
    }
)


def split_sizes(config: dict, task: str) -> dict[str, int] | None:
    """Sequences in each split: a synthetic task's own counts, else the task's size shared."""
    source = config["tasks"][task]["source"]
    if "synthetic" in source and "size" not in config["tasks"][task]:
        return {split: source[f"n_{split}"] for split in SPLIT_SHARES}
    size = storage.task_size(config, task)
    if size is None:
        return None
    return {split: round(size.sequences * share) for split, share in SPLIT_SHARES.items()}


def parameters(config: dict, model: str) -> float:
    """A model's parameters: its card's, else 12 · layers · hidden² (transformer blocks)."""
    card = cards.model_card(config, model)
    if "parameters" in card:
        return card["parameters"]
    settings = plan.model_settings(config, model)
    return 12 * settings.get("n_layers", 0) * card.get("hidden_size", 0) ** 2


@functools.cache
def probe_flops(probe_json: str, shape: tuple[int, ...], n_out: int) -> tuple[float, int]:
    """(forward FLOPs per sample, parameters) of a probe network, counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from glmeval.probes.run import build_probe

    probe = json.loads(probe_json)
    module = build_probe(probe, shape, n_out)
    inputs = [torch.zeros(2, *shape)] * (2 if probe["type"] == "splice_cnn" else 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(*inputs)
    return counter.get_total_flops() / 2, sum(p.numel() for p in module.parameters())


#: FLOP per parameter per token of a training step: the forward pass 2, the backward pass 4
#: (gradients of the activations and of the weights), 2 for LoRA's frozen weights (those of the
#: activations only); gradient checkpointing runs the forward pass again (2 more).
TRAIN_STEP_FLOPS = {"full": 6, "scratch": 6, "lora": 4}
CHECKPOINTING_FLOPS = 2
#: Bytes of activations a transformer layer keeps for its backward pass, per token and hidden
#: unit, in 16-bit precision without stored attention scores (Korthikanti et al. 2022: 34 s b h);
#: with gradient checkpointing a layer keeps its input only (2), and one layer is recomputed.
ACTIVATION_BYTES, CHECKPOINTED_BYTES = 34, 2
#: Bytes per trained weight besides the weight: its gradient and Adam's two moments (fp32).
OPTIMIZER_BYTES = 12
#: LoRA's trained share of the weights (rank 8 on the projections: about 1 %).
LORA_SHARE = 0.01


def finetune_flops(
    probe: dict, parameters: float, splits: dict, tokens: float, fraction: float = 1.0
) -> float:
    """FLOPs of one fine-tuning run of `probe` over a task of `splits` sequences of `tokens`
    tokens: `max_epochs` epochs of training steps on the train fraction and forward passes on
    valid, then the test predictions."""
    step = TRAIN_STEP_FLOPS[probe["finetune"]]
    step += CHECKPOINTING_FLOPS * bool(probe.get("gradient_checkpointing"))
    epoch = (step * splits["train"] * fraction + 2 * splits["valid"]) * parameters * tokens
    return probe["max_epochs"] * epoch + 2 * splits["test"] * parameters * tokens


def finetune_gpu_bytes(
    probe: dict, parameters: float, tokens: int, hidden: int, n_layers: int
) -> float:
    """GPU memory of fine-tuning at the probe's `batch_size`: fp32 weights, the trained weights'
    gradients and Adam's states, and the activations kept for the backward pass."""
    trained = parameters * (LORA_SHARE if probe["finetune"] == "lora" else 1)
    states = probe["batch_size"] * tokens * hidden
    if probe.get("gradient_checkpointing"):
        activations = states * (CHECKPOINTED_BYTES * n_layers + ACTIVATION_BYTES)
    else:
        activations = states * ACTIVATION_BYTES * n_layers
    return MEMORY_BYTES * parameters + OPTIMIZER_BYTES * trained + activations


class CostModel:
    """The cost of one configuration's plan on `device` (gpu: a cluster's GPU rules; cpu:
    everything on the CPU, as on this project's test machine)."""

    def __init__(self, run_plan: RunPlan, profile: Profile | None = None, device: str = GPU):
        self.plan = run_plan
        self.config = run_plan.config
        self.profile = profile or Profile()
        self.device = device
        self.rules: dict[str, RuleCost] = {}
        #: the largest fine-tuning job's GPU memory (`finetune_gpu_bytes`)
        self.finetune_gpu_bytes = 0.0

    def _rule(self, name: str) -> RuleCost:
        return self.rules.setdefault(name, RuleCost(name))

    def _device(self, rule: str) -> str:
        return GPU if self.device == GPU and rule in self.profile.gpu_rules else CPU

    # ------------------------------------------------------------------ forward passes
    def forward_seconds(self, model: str, sequences: float, length: int, rule: str) -> float:
        """A job's seconds: its start, the model loaded, and forward passes over `sequences`
        sequences of `length` bases: FLOPs over the positions the model runs (a padded-input
        model's whole input: Sei's 4,096), host-side work per token it returns."""
        settings = plan.model_settings(self.config, model)
        tokens, hidden = storage.token_shape(self.config, model, length)
        family = FAMILIES[settings["family"]]
        padded = family.input_bases or family.name == "rbp"
        positions = sequences * (context_bases(settings) if padded else tokens)
        weights = parameters(self.config, model)
        seconds = JOB_SECONDS
        if family.loader not in ("onehot", "kmer"):  # no tokenizer and no network: array ops
            seconds += TOKEN_SECONDS * sequences * tokens
        if plan.model_dir(self.config, model):  # a checkpoint to load
            seconds += LOAD_SECONDS + weights * MEMORY_BYTES / 1e6 / READ_MB_PER_S
        if self._device(rule) == GPU:
            return seconds + 2 * weights * positions / GPU_FLOPS
        states = positions * settings.get("n_layers", 0) * hidden
        return seconds + 2 * weights * positions / CPU_FLOPS + CPU_STATE_SECONDS * states

    def _task_seconds(self, model: str, task: str, rule: str) -> float | None:
        """Seconds of one forward pass job of `model` over every split of `task`."""
        size = storage.task_size(self.config, task)
        if not size or not storage.token_shape(self.config, model, size.length):
            return None
        return self.forward_seconds(model, size.sequences * size.columns, size.length, rule)

    def _extraction_mem(self, model: str) -> float:
        return BASE_MEM_MB + 3 * parameters(self.config, model) * MEMORY_BYTES / 1e6

    def pooled_bytes(self, model: str, task: str) -> float:
        """Bytes of a model's pooled states of a task (every layer, CLS and mean)."""
        size = storage.task_size(self.config, task)
        shape = size and storage.token_shape(self.config, model, size.length)
        if not shape:
            return 0.0
        settings = plan.model_settings(self.config, model)
        views = 1 + len(STRAND_VIEWS) * (settings.get("strands") == "both")
        layers = settings.get("n_layers", 0) + 1
        return size.sequences * size.columns * layers * 2 * shape[1] * storage.STORED_BYTES * views

    def extraction(self) -> None:
        kept = self.plan.token_storage
        for model, task in self.plan.extractions:
            # a kmer model's spectra: numpy counting in a CPU job of its own
            kmer = plan.model_settings(self.config, model)["family"] == "kmer"
            rule = self._rule("kmer_spectra" if kmer else "extract_embeddings")
            seconds = self._task_seconds(model, task, rule.rule)
            memory = self._extraction_mem(model) + 2 * self.pooled_bytes(model, task) / 1e6 * kmer
            rule.add(seconds, self._device(rule.rule), "forward", memory)
            rule.disk_bytes += self.pooled_bytes(model, task)
            rule.disk_bytes += (kept.layer_bytes.get((model, task)) or 0) * len(
                kept.kept.get((model, task), ())
            )
        for part in kept.parts:
            rule = self._rule("extract_token_states")
            seconds = self._task_seconds(part.model, part.task, rule.rule)
            rule.add(seconds, self._device(rule.rule), "forward", self._extraction_mem(part.model))

    # ------------------------------------------------------------------ probes
    def _n_out(self, task: str) -> int:
        return len(self.config["tasks"][task].get("targets", [None]))

    def _input_shape(self, group) -> tuple[int, ...] | None:
        size = storage.task_size(self.config, group.task)
        shape = size and storage.token_shape(self.config, group.model, size.length)
        if not shape:
            return None
        if group.representation == TOKENS:
            return shape
        return (shape[1] * size.columns,)

    def probe_group_seconds(self, group, rule: str) -> tuple[float | None, float, float]:
        """(seconds, peak memory MB, bytes written) of one probe job."""
        splits = split_sizes(self.config, group.task)
        shape = self._input_shape(group)
        if splits is None or shape is None:
            return None, BASE_MEM_MB, 0.0
        settings = plan.probe_settings(self.config, group.probe, group.model)
        n_out = self._n_out(group.task)
        written = sum(splits["test"] * n_out * 8 * 2 for _ in group.runs)  # predictions
        pooled_mb = (splits["train"] + splits["valid"] + splits["test"]) * shape[-1] * 8 / 1e6
        mem = BASE_MEM_MB + (pooled_mb if group.representation != TOKENS else 0)
        if settings["type"] in LINEAR_PROBES:
            dim = shape[0]
            n = splits["train"] + (
                splits["valid"] if settings.get("fit_on") == "train_valid" else 0
            )
            grid, n_train = len(settings.get("alphas", [])), splits["train"]
            if settings["type"] == "logistic":
                flops = LOGISTIC_ITERATIONS * 4 * (n + grid * n_train) * dim
            else:  # a grid: one centred Gram matrix and its eigendecomposition (~9 d^3)
                flops = 2 * n * dim**2 + dim**3 + (2 * n_train * dim**2 + 9 * dim**3) * (grid > 0)
            seconds = JOB_SECONDS + len(group.runs) * (RUN_SECONDS + flops / CPU_LINEAR_FLOPS)
            return seconds, mem, written
        gpu = self._device(rule) == GPU
        keys = {k: v for k, v in settings.items() if k not in ("description", "models")}
        forward, n_params = probe_flops(json.dumps(keys, sort_keys=True), shape, n_out)
        written += len(group.runs) * n_params * MEMORY_BYTES
        epochs = settings["max_epochs"]
        seconds = JOB_SECONDS
        token_mb = (
            math.prod(shape) * storage.STORED_BYTES / 1e6 if group.representation == TOKENS else 0.0
        )
        for run in group.runs:
            train = splits["train"] * run.train_fraction
            compute = (3 * train + splits["valid"]) * forward
            compute /= GPU_PROBE_FLOPS if gpu else CPU_PROBE_FLOPS
            read = (train + splits["valid"]) * token_mb / READ_MB_PER_S
            test = splits["test"] * forward / (GPU_PROBE_FLOPS if gpu else CPU_PROBE_FLOPS)
            seconds += RUN_SECONDS + epochs * max(compute, read) + test
        return seconds, mem, written

    def finetune_group(self, group) -> tuple[float | None, float, float, float]:
        """(seconds, host memory MB, bytes written, GPU bytes) of one fine-tuning job."""
        splits = split_sizes(self.config, group.task)
        size = storage.task_size(self.config, group.task)
        shape = size and storage.token_shape(self.config, group.model, size.length)
        if splits is None or not shape:
            return None, BASE_MEM_MB, 0.0, 0.0
        probe = plan.probe_settings(self.config, group.probe, group.model)
        weights = parameters(self.config, group.model)
        settings = plan.model_settings(self.config, group.model)
        n_layers, views = settings.get("n_layers", 0), 1 + (settings.get("strands") == "both")
        flops = sum(
            finetune_flops(probe, weights, splits, shape[0] * views, run.train_fraction)
            for run in group.runs
        )
        gpu = self._device("finetune") == GPU
        seconds = JOB_SECONDS + len(group.runs) * (
            LOAD_SECONDS + weights * MEMORY_BYTES / 1e6 / READ_MB_PER_S
        )
        seconds += flops / (GPU_FLOPS if gpu else CPU_FLOPS)
        # the head: as a frozen probe's training on the model's states
        keys = {k: v for k, v in probe.items() if k not in ("description", "models", "lora")}
        head_shape, n_out = self._input_shape(group), self._n_out(group.task)
        head, _ = probe_flops(json.dumps(keys, sort_keys=True), head_shape, n_out)
        for run in group.runs:
            rows = 3 * splits["train"] * run.train_fraction + splits["valid"]
            head_flops = probe["max_epochs"] * rows * head + splits["test"] * head
            seconds += head_flops / (GPU_PROBE_FLOPS if gpu else CPU_PROBE_FLOPS)
        saved = weights * (LORA_SHARE if probe["finetune"] == "lora" else 1) * MEMORY_BYTES
        written = len(group.runs) * (saved + splits["test"] * self._n_out(group.task) * 16)
        copies = 3 if probe["finetune"] == "lora" else 6
        memory = BASE_MEM_MB + copies * weights * MEMORY_BYTES / 1e6
        return seconds, memory, written, finetune_gpu_bytes(probe, weights, *shape, n_layers)

    def probes(self) -> None:
        for group in self.plan.probe_groups:
            if plan.finetuned(self.config, group.probe):
                rule = self._rule("finetune")
                seconds, mem, written, gpu_bytes = self.finetune_group(group)
                rule.add(seconds, self._device(rule.rule), "training", mem)
                rule.disk_bytes += written
                self.finetune_gpu_bytes = max(self.finetune_gpu_bytes, gpu_bytes)
                continue
            linear = self.config["probes"][group.probe]["type"] in LINEAR_PROBES
            rule = self._rule("fit_linear_probes" if linear else "train_probes")
            seconds, mem, written = self.probe_group_seconds(group, rule.rule)
            rule.add(seconds, self._device(rule.rule), "training", mem)
            rule.disk_bytes += written

    # ------------------------------------------------------------------ the rest
    def zeroshot(self) -> None:
        for name, files in self.plan.zeroshot.items():
            variants = self.config["variants"][name]
            count = variants.get("size", {}).get("variants")
            for path in files:
                model = Path(path).stem
                window = plan.variant_window(self.config, name, model) or variants.get("length")
                rule = self._rule("zeroshot_scores")
                settings = plan.model_settings(self.config, model)
                if count is None or window is None:
                    rule.add(None, self._device(rule.rule), "forward")
                    continue
                head = FAMILIES[settings["family"]].head
                passes = 2 + (head == "masked_lm")  # ref, alt, and the masked LLR's
                seconds = self.forward_seconds(model, count * passes, window, rule.rule)
                rule.add(seconds, self._device(rule.rule), "forward", self._extraction_mem(model))

    def other_jobs(self) -> None:
        """The jobs whose hours the model does not count (None: attribution, GIA, transfer,
        the RBP model's training), and the data, table and figure jobs (a job's start each)."""
        config, plan_ = self.config, self.plan
        supervised = _supervised(config, plan_)
        mapped = {j.task for j in plan_.attribution_jobs}
        attribution = config.get("attribution", {})
        tasks = attribution.get("tasks", {})
        motifs = attribution.get("motifs", "synthetic") == "synthetic" and bool(mapped)
        uncounted = {
            "attribution_maps": len(plan_.attribution_jobs),
            "attribution_gia": sum("gia" in a for a in tasks.values()),
            "transfer_effects": len(plan_.transfer),
            "train_rbp_model": len(supervised),
        }
        trained_on = {plan.model_settings(config, m)["source"]["train"]["task"] for m in supervised}
        variants = {t.variants for t in plan_.transfer} | set(plan_.zeroshot)
        tables = bool(plan_.tasks)
        quick = {
            "fetch_download": len(plan_.downloads),
            "resolve_model": sum(s.startswith("resources/models/") for s in plan_.model_snapshots),
            "prepare_task": len(set(plan_.tasks) | trained_on),
            "prepare_variants": len(variants),
            "prepare_variant_windows": len(plan_.variant_windows),
            "synthetic_motifs": int(motifs),
            "attribution_selection": len(mapped | {t for t, a in tasks.items() if "gia" in a}),
            "attribution_motifs": len(mapped),
            "task_table": len(plan_.tasks),
            **dict.fromkeys(("probe_metrics", "probe_stats", "leakage_table"), int(tables)),
            "leaderboard": int(tables),
            "paper_comparison": int(bool(plan_.paper_values)),
            "model_cards": 1,
            "provenance": 1,
            "variant_tables": int(bool(plan_.variant_tables)),
            "figure": len(plan_.figure_jobs),
            "figure_index": 1,
        }
        for name, count in {**uncounted, **quick}.items():
            for _ in range(count):
                seconds = JOB_SECONDS if name in quick else None
                self._rule(name).add(seconds, self._device(name), "training")

    def estimate(self) -> dict[str, RuleCost]:
        self.extraction()
        self.probes()
        self.zeroshot()
        self.other_jobs()
        for rule in self.rules.values():
            size = self.profile.group_size.get(rule.rule, 1)
            rule.submissions = 0 if rule.rule in LOCAL_RULES else math.ceil(rule.jobs / size)
        return self.rules

    # ------------------------------------------------------------------ disk
    def disk(self) -> tuple[float, float]:
        """(peak, final) bytes: pooled states, kept token layers and probe files at the end;
        the largest wave of token parts on top at the peak."""
        final = sum(r.disk_bytes for r in self.rules.values())
        waves: dict[int, float] = {}
        for part in self.plan.token_storage.parts:
            waves[part.wave] = waves.get(part.wave, 0) + part.bytes
        return final + max(waves.values(), default=0.0), final


def _supervised(config: dict, run_plan: RunPlan) -> set[str]:
    used = {j.model for j in run_plan.probe_jobs}
    return {m for m in used if "train" in plan.model_settings(config, m).get("source", {})}


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def report(config: dict, profile_dir: str | Path | None = None, device: str = GPU) -> str:
    """The cost table of `config` as Markdown (`glmeval check --cost`)."""
    from glmeval.tables import pipe_table

    model = CostModel(RunPlan(config), Profile.read(profile_dir), device)
    rules = model.estimate()
    peak, final = model.disk()
    rows = [
        {
            "rule": r.rule,
            "jobs": r.jobs,
            "submissions": r.submissions,
            "GPU-h forward": _hours(r.gpu_forward_hours),
            "GPU-h training": _hours(r.gpu_training_hours),
            "CPU-h": _hours(r.cpu_hours),
            "largest job GB": f"{r.max_mem_mb / 1000:,.1f}",
        }
        for r in rules.values()
    ]

    def total(key):
        values = [getattr(r, key) for r in rules.values()]
        return sum(v for v in values if v is not None)

    rows.append(
        {
            "rule": "total",
            "jobs": sum(r.jobs for r in rules.values()),
            "submissions": sum(r.submissions for r in rules.values()),
            "GPU-h forward": _hours(total("gpu_forward_hours")),
            "GPU-h training": _hours(total("gpu_training_hours")),
            "CPU-h": _hours(total("cpu_hours")),
            "largest job GB": f"{max(r.max_mem_mb for r in rules.values()) / 1000:,.1f}",
        }
    )
    token_budget = model.plan.token_storage.budget
    tuned = "finetune" in rules
    header = list(rows[0])
    lines = [
        pipe_table(header, [list(r.values()) for r in rows], right=header[1:]),
        f"disk: {storage.format_gb(peak)} at the peak, {storage.format_gb(final)} at the end (pooled "
        f"states, token layers, probe files)"
        + (f"; token states within {storage.format_gb(token_budget)}" if token_budget else ""),
        (
            "— : not counted (attribution, GIA, transfer and the RBP model's training are jobs "
            "only). Probe training at max_epochs: an upper bound. Local rules (tables, figures) "
            "run in Snakemake's own process: no submission. The constants: glmeval.cost "
            "(docs/benchmarks.md, Cost model)."
        ),
    ]
    if tuned:
        lines.insert(
            2,
            f"fine-tuning: the largest job needs {storage.format_gb(model.finetune_gpu_bytes)} "
            "of GPU memory at its batch size (weights, gradients, Adam's states, activations); "
            "its training hours count every epoch up to max_epochs.",
        )
    return "\n".join(lines)
