rule train_probes:
    """A neural probe (MLP or CNN) on one layer, every seed and train fraction: a GPU job on a
    cluster (profiles/slurm). Each run writes its own files (glmeval.paths.PROBE_RUN); a
    killed job's rerun keeps the runs that finished."""
    input:
        task=paths.TASK_META,
        embeddings=PLAN.probe_embeddings,
    output:
        paths.PROBE_RUNS,
    log:
        "logs/train_probes/{task}/{model}/{representation}/L{layer}/{probe}.log",
    wildcard_constraints:
        probe=PLAN.probe_names("neural"),
    conda:
        "../../envs/glmeval.yaml"
    threads: 1
    resources:
        mem_mb=probe_resource("mem_mb"),
        runtime=probe_resource("runtime"),
    params:
        settings=PLAN.probe_settings,
        runs=PLAN.group_runs,
        device=config["device"],
    script:
        "../scripts/train_probes.py"


use rule train_probes as fit_linear_probes with:
    """A linear probe (ridge, OLS, logistic) on every layer it sweeps, every seed and train
    fraction: one CPU job."""
    output:
        paths.PROBE_SWEEP_RUNS,
    log:
        "logs/fit_linear_probes/{task}/{model}/{representation}/{probe}.log",
    wildcard_constraints:
        probe=PLAN.probe_names("linear"),


rule finetune:
    """A language model fine-tuned under a probe's head (LoRA, every weight, or from scratch;
    docs/finetuning.md), every seed and train fraction: a GPU job on a cluster. It reads the
    task's sequences and the model's checkpoint, and writes each run as a probe's; a killed
    job resumes after each run's last complete epoch."""
    input:
        unpack(PLAN.embedding_inputs),
    output:
        paths.PROBE_RUNS,
    log:
        "logs/finetune/{task}/{model}/{representation}/L{layer}/{probe}.log",
    wildcard_constraints:
        probe=PLAN.probe_names("finetune"),
    conda:
        "../../envs/glmeval.yaml"
    threads: 1
    resources:
        mem_mb=finetune_resource("mem_mb"),
        runtime=finetune_resource("runtime"),
    params:
        settings=PLAN.probe_settings,
        runs=PLAN.group_runs,
        model=PLAN.model_settings,
        device=config["device"],
    script:
        "../scripts/finetune.py"
