from glmeval import report as glm_report

# The report's landing page (report/workflow.rst) shows the leaderboard first, and cites only the
# figures this run made.
config["report_landing"].update(
    glm_report.report_landing(
        "results/tables/leaderboard.md",
        [(f.name, f.outputs["png"]) for f in FIGURE_JOBS],
    )
)


rule task_table:
    input:
        task_metrics,
    output:
        paths.TASK_TABLE,
    log:
        "logs/task_table/{task}.log",
    wildcard_constraints:
        task="|".join(map(re.escape, TASKS)) or "(?!)",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/task_table.py"


rule probe_metrics:
    input:
        expand(paths.TASK_TABLE, task=TASKS),
    output:
        "results/tables/probe_metrics.csv",
    log:
        "logs/probe_metrics.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/probe_metrics.py"


rule probe_stats:
    input:
        metrics="results/tables/probe_metrics.csv",
        predictions=PREDICTIONS,
    output:
        summary=report(
            "results/tables/probe_summary.csv",
            caption="../report/probe_summary.rst",
            category="Tables",
        ),
        comparisons=report(
            "results/tables/probe_comparisons.csv",
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
        baselines=plan.baselines(config, PROBE_JOBS),
        n_boot=config["bootstrap"],
        overlaps=TRAINING_OVERLAPS,
    script:
        "../scripts/probe_stats.py"


rule model_cards:
    """Every configured model's card, and where its training data overlap a task's."""
    output:
        cards=report(
            "results/tables/model_cards.csv",
            caption="../report/model_cards.rst",
            category="Tables",
        ),
        overlaps="results/tables/training_overlap.csv",
    log:
        "logs/model_cards.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        cards=cards.card_table(config).to_dict("records"),
        overlaps=TRAINING_OVERLAPS,
    script:
        "../scripts/model_cards.py"


rule model_table:
    """Every probe run of one model, all tasks: `snakemake results/tables/models/<model>.csv`."""
    input:
        model_metrics,
    output:
        "results/tables/models/{model}.csv",
    log:
        "logs/model_table/{model}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/task_table.py"


rule leakage_table:
    """Copies across each task's splits, from the audits in task.json (docs/semantics.md)."""
    input:
        expand("resources/data/{task}/task.json", task=TASKS),
    output:
        report(
            "results/tables/leakage.csv",
            caption="../report/leakage.rst",
            category="Tables",
        ),
    log:
        "logs/leakage_table.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        tasks=TASKS,
    script:
        "../scripts/leakage_table.py"
