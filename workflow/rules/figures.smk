rule figures:
    """Every figure of the configuration (the paper's panels in config/config.yaml), the
    leaderboard, Table 1 as Markdown, the paper's numbers next to ours and the provenance.
    """
    input:
        PLAN.figure_targets,
    localrule: True


rule figure:
    input:
        PLAN.figure_inputs,
    output:
        png=report(
            paths.fill(paths.FIGURE, ext="png"),
            caption="../report/figure.rst",
            category=lambda wc: PLAN.figures[wc.figure].category,
            subcategory=lambda wc: PLAN.figures[wc.figure].subcategory,
            labels=lambda wc: {
                "figure": wc.figure,
                "kind": PLAN.figures[wc.figure].kind,
                "models": ", ".join(
                    PLAN.figures[wc.figure].spec.get("models", ["all"])
                ),
            },
        ),
        pdf=paths.fill(paths.FIGURE, ext="pdf"),
        csv=paths.fill(paths.FIGURE, ext="csv"),
    log:
        "logs/figure/{figure}.log",
    wildcard_constraints:
        figure=PLAN.figure_names,
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        kind=lambda wc: PLAN.figures[wc.figure].kind,
        spec=lambda wc: PLAN.figures[wc.figure].spec,
        caption=lambda wc: PLAN.figures[wc.figure].caption,
        metric=PLAN.figure_metric,
        labels=PLAN.figure_labels,
    script:
        "../scripts/figure.py"


rule figure_index:
    """Every figure the configuration asks for: made, or skipped with the reason (logged)."""
    output:
        paths.FIGURE_INDEX,
    log:
        "logs/figure_index.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        made=[(f.name, f.kind, f.caption) for f in PLAN.figure_jobs],
        skipped=[(s.name, s.kind, s.reason) for s in PLAN.skipped_figures],
    script:
        "../scripts/figure_index.py"
