rule figures:
    """Every figure of the configuration (the paper's panels in config/config.yaml), the
    leaderboard, Table 1 as Markdown, the paper's numbers next to ours and the provenance.
    """
    input:
        FIGURE_TARGETS,
    localrule: True


rule figure:
    input:
        lambda wc: figure_plan.figure_inputs(figure_job(wc), config),
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category=lambda wc: figure_job(wc).spec.get("category", "Figures"),
            subcategory=lambda wc: ", ".join(figure_job(wc).tasks) or "attribution",
            labels=lambda wc: {
                "figure": wc.figure,
                "kind": figure_job(wc).kind,
                "models": ", ".join(figure_job(wc).spec.get("models", ["all"])),
            },
        ),
        pdf="results/figures/{figure}.pdf",
        csv="results/figures/{figure}.csv",
    log:
        "logs/figure/{figure}.log",
    wildcard_constraints:
        figure="|".join(map(re.escape, FIGURE_BY_NAME)) or "(?!)",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        kind=lambda wc: figure_job(wc).kind,
        spec=lambda wc: figure_job(wc).spec,
        caption=lambda wc: figure_job(wc).caption,
        metric=lambda wc: (
            figure_plan.headline_metric(config, figure_job(wc).tasks[0])
            if figure_job(wc).tasks and figure_job(wc).kind != "attribution"
            else "pearson"
        ),
        labels=FIGURE_LABELS,
    script:
        "../scripts/figure.py"


rule figure_index:
    """Every figure the configuration asks for: made, or skipped with the reason (logged)."""
    output:
        "results/figures/index.csv",
    log:
        "logs/figure_index.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        made=[(f.name, f.kind, f.caption) for f in FIGURE_JOBS],
        skipped=[(s.name, s.kind, s.reason) for s in SKIPPED_FIGURES],
    script:
        "../scripts/figure_index.py"


rule leaderboard:
    """Per task: each representation's best probe, its difference from the baseline and its
    rank with a bootstrap interval; tasks whose splits share copies are marked."""
    input:
        summary="results/tables/probe_summary.csv",
        comparisons="results/tables/probe_comparisons.csv",
        metrics="results/tables/probe_metrics.csv",
        predictions=PREDICTIONS,
        leakage="results/tables/leakage.csv",
    output:
        csv=report(
            "results/tables/leaderboard.csv",
            caption="../report/leaderboard.rst",
            category="Leaderboard",
        ),
        md=report(
            "results/tables/leaderboard.md",
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
    script:
        "../scripts/leaderboard.py"


rule paper_comparison:
    """The paper's reported numbers next to this run's."""
    input:
        summary="results/tables/probe_summary.csv",
        reported=PAPER_VALUES or [],
        variants=[p for p in VARIANT_TABLES if p.endswith("_correlations.csv")],
    output:
        csv=report(
            "results/tables/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category="Leaderboard",
        ),
        md="results/tables/paper_comparison.md",
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
        EMBEDDINGS,
    output:
        report(
            "results/tables/provenance.csv",
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
