rule task_table:
    input:
        PLAN.task_records,
    output:
        paths.TASK_TABLE,
    log:
        "logs/task_table/{task}.log",
    wildcard_constraints:
        task=PLAN.task_names,
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        metrics=PLAN.task_metrics,
    script:
        "../scripts/task_table.py"


rule probe_metrics:
    input:
        expand(paths.TASK_TABLE, task=PLAN.tasks),
    output:
        paths.PROBE_METRICS_TABLE,
    log:
        "logs/probe_metrics.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/probe_metrics.py"


rule probe_stats:
    input:
        metrics=paths.PROBE_METRICS_TABLE,
        runs=PLAN.probe_records,
    output:
        summary=report(
            paths.PROBE_SUMMARY,
            caption="../report/probe_summary.rst",
            category="Tables",
        ),
        comparisons=report(
            paths.PROBE_COMPARISONS,
            caption="../report/probe_comparisons.rst",
            category="Tables",
        ),
    log:
        "logs/probe_stats.log",
    conda:
        "../../envs/glmeval.yaml"
    resources:
        # bootstraps every configuration (bootstrap: resamples each); allow hours at paper scale
        mem_mb=16000,
        runtime=480,
    params:
        baselines=plan.baselines(config, PLAN.probe_jobs),
        n_boot=config["bootstrap"],
        overlaps=PLAN.training_overlaps,
    script:
        "../scripts/probe_stats.py"


rule model_cards:
    """Every configured model's card, and where its training data overlap a task's."""
    output:
        cards=report(
            paths.MODEL_CARDS,
            caption="../report/model_cards.rst",
            category="Tables",
        ),
        overlaps=paths.TRAINING_OVERLAP,
    log:
        "logs/model_cards.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        cards=PLAN.model_cards,
        overlaps=PLAN.training_overlaps,
    script:
        "../scripts/model_cards.py"


rule model_table:
    """Every probe run of one model, all tasks: `snakemake results/tables/models/<model>.csv`."""
    input:
        PLAN.model_records,
    output:
        paths.MODEL_TABLE,
    log:
        "logs/model_table/{model}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        metrics=PLAN.model_metrics,
    script:
        "../scripts/task_table.py"


rule leakage_table:
    """Copies across each task's splits, from the audits in task.json (docs/semantics.md)."""
    input:
        expand(paths.TASK_META, task=PLAN.tasks),
    output:
        report(
            paths.LEAKAGE_TABLE,
            caption="../report/leakage.rst",
            category="Tables",
        ),
    log:
        "logs/leakage_table.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        tasks=PLAN.tasks,
    script:
        "../scripts/leakage_table.py"


rule leaderboard:
    """Per task: each representation's best probe, its difference from the baseline and its
    rank with a bootstrap interval; tasks whose splits share copies are marked."""
    input:
        summary=paths.PROBE_SUMMARY,
        comparisons=paths.PROBE_COMPARISONS,
        metrics=paths.PROBE_METRICS_TABLE,
        runs=PLAN.probe_records,
        leakage=paths.LEAKAGE_TABLE,
    output:
        csv=report(
            paths.LEADERBOARD.format(ext="csv"),
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        md=report(
            paths.LEADERBOARD.format(ext="md"),
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
    log:
        "logs/leaderboard.log",
    conda:
        "../../envs/glmeval.yaml"
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        n_boot=config["bootstrap"],
        kinds=PLAN.model_kinds,
        tuned=PLAN.tuned_kinds,
    script:
        "../scripts/leaderboard.py"


rule paper_comparison:
    """The paper's reported numbers next to this run's."""
    input:
        summary=paths.PROBE_SUMMARY,
        reported=PLAN.paper_values or [],
        variants=[p for p in PLAN.variant_tables if p.endswith("_correlations.csv")],
    output:
        csv=report(
            paths.PAPER_COMPARISON.format(ext="csv"),
            caption="../report/paper_comparison.rst",
            category="Leaderboard",
        ),
        md=paths.PAPER_COMPARISON.format(ext="md"),
    log:
        "logs/paper_comparison.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/paper_comparison.py"


rule provenance:
    """What produced the results: versions, commit, configuration hash, checkpoints, devices."""
    input:
        PLAN.probe_records,
    output:
        report(
            paths.PROVENANCE,
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        models=config["models"],
        config_sha256=CONFIG_SHA256,
        workflow_dir=str(REPO_DIR),
    script:
        "../scripts/provenance.py"
