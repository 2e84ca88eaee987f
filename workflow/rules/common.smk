import dataclasses
import functools

# Wiring only: the plan of this configuration (glmeval.run_plan) gives every target list and
# each rule's inputs; glmeval.paths gives every output's pattern.
from glmeval import config as glm_config
from glmeval import job_resources, paths, plan, provenance
from glmeval.report import Landing
from glmeval.run_plan import RunPlan
from glmeval.vocabulary import SPLITS

glm_config.validate_config(config, glm_config.SCHEMA)  # config/schema.yaml
CONFIG_SHA256 = provenance.config_hash(config)
PLAN = RunPlan(config, REPO_DIR)

# The report's landing page (report/workflow.rst) shows the leaderboard, the reproduction, the
# provenance, the leaked tasks and the figures made; it reads them when the report is built,
# not here.
config["report_landing"] = Landing(
    planned=tuple((f.name, f.outputs["png"]) for f in PLAN.figure_jobs),
    skipped=tuple(dataclasses.asdict(s) for s in PLAN.skipped_figures),
    reproduction_png=next(
        (f.outputs["png"] for f in PLAN.figure_jobs if f.kind == "reproduction"), ""
    ),
)


wildcard_constraints:
    **paths.WILDCARDS,


# one estimate per job serves both of its resources (memory and time)
cached_extraction = functools.cache(job_resources.extraction)
cached_probe = functools.cache(job_resources.probe)


def extraction_resource(key):
    """`key` (mem_mb or runtime) of an extraction job, from the model's weights and the splits."""

    def resource(wildcards, input, attempt):
        splits = tuple(input[split] for split in SPLITS)
        return cached_extraction(input.get("model"), splits, input.task, attempt)[key]

    return resource


def kmer_resource(key):
    """`key` (mem_mb or runtime) of a kmer model's spectra, from the splits and its width."""

    def resource(wildcards, input, attempt):
        splits = tuple(input[split] for split in SPLITS)
        width = PLAN.kmer_width(wildcards)
        return job_resources.kmer_spectra(splits, input.task, width, attempt)[key]

    return resource


def finetune_resource(key):
    """`key` (mem_mb or runtime) of a fine-tuning job, from the model's weights, the splits
    and its runs."""

    def resource(wildcards, input, attempt):
        group = PLAN.probe_group(wildcards)
        splits = tuple(input[split] for split in SPLITS)
        probe = PLAN.probe_settings(wildcards)["probe"]
        runs = tuple(run.train_fraction for run in group.runs)
        return job_resources.finetune(
            input.get("model"), splits, input.task, probe, runs, attempt
        )[key]

    return resource


def probe_resource(key):
    """`key` (mem_mb or runtime) of a probe job, from the sizes of its inputs and its runs."""

    def resource(wildcards, input, attempt):
        group = PLAN.probe_group(wildcards)
        estimate = cached_probe(
            tuple(input.embeddings),
            group.representation,
            group.runs[0].layer,
            config["probes"][group.probe]["max_epochs"],
            attempt,
            len(group.runs),
        )
        return estimate[key]

    return resource
