rule train_probe:
    """A neural probe (MLP or CNN): a GPU job on a cluster (profiles/slurm)."""
    input:
        task=paths.TASK_META,
        embeddings=expand(paths.EMBEDDINGS, split=SPLITS, allow_missing=True),
    output:
        metrics=paths.PROBE_METRICS,
        predictions=paths.PROBE_PREDICTIONS,
        model=paths.PROBE_MODEL,
    log:
        "logs/train_probe/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}.log",
    wildcard_constraints:
        probe=PLAN.probe_names(linear=False),
    conda:
        "../../envs/glmeval.yaml"
    threads: 1
    resources:
        mem_mb=probe_resource("mem_mb"),
        runtime=probe_resource("runtime"),
    params:
        run=PLAN.probe_run_settings,
        device=config["device"],
    script:
        "../scripts/train_probe.py"


use rule train_probe as fit_linear_probe with:
    """A linear probe (ridge, OLS, logistic): a small CPU job, grouped on a cluster."""
    output:
        metrics=paths.PROBE_METRICS,
        predictions=paths.PROBE_PREDICTIONS,
    log:
        "logs/fit_linear_probe/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}.log",
    wildcard_constraints:
        probe=PLAN.probe_names(linear=True),
