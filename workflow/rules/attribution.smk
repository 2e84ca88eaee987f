rule attribution:
    """Every configured attribution map, motif table, figure and GIA table."""
    input:
        PLAN.attribution_targets,
    localrule: True


rule synthetic_motifs:
    """The synthetic tasks' own motifs among seeded decoys as a MEME file (the demo's database)."""
    output:
        paths.SYNTHETIC_MOTIFS,
    log:
        "logs/synthetic_motifs.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/synthetic_motifs.py"


rule attribution_selection:
    """The test sequences explained: the reference model's top predictions."""
    input:
        unpack(PLAN.attribution_selection_inputs),
    output:
        paths.ATTRIBUTION_SELECTION,
    log:
        "logs/attribution_selection/{task}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        top_k=lambda wc: config["attribution"]["top_k"],
        predictions=lambda wc: PLAN.attribution_reference(wc).predictions_path,
    script:
        "../scripts/attribution_selection.py"


rule attribution_maps:
    """The maps of one model (through one probe, or the LM's own): a GPU job on a cluster."""
    input:
        unpack(PLAN.attribution_map_inputs),
    output:
        directory(paths.ATTRIBUTION_MAPS),
    log:
        "logs/attribution_maps/{task}/{model}/{probe}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        job=lambda wc: dataclasses.asdict(PLAN.attribution_job(wc)),
        model=PLAN.model_settings,
        settings=lambda wc: config["attribution"],
        device=config["device"],
    script:
        "../scripts/attribution_maps.py"


rule attribution_gia:
    """Global importance analysis of motif pairs: a GPU job on a cluster."""
    input:
        unpack(PLAN.gia_inputs),
    output:
        paths.ATTRIBUTION_GIA,
    log:
        "logs/attribution_gia/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        gia=PLAN.gia_settings,
        job=lambda wc: dataclasses.asdict(PLAN.gia_run(wc)),
        model=lambda wc: plan.model_settings(config, PLAN.gia_settings(wc)["model"]),
        settings=lambda wc: config["attribution"],
        device=config["device"],
    script:
        "../scripts/attribution_gia.py"


rule attribution_motifs:
    """Seqlets matched to the motif database, motif recovery, map agreement, importance on
    planted bases, each with its chance level; the figures."""
    input:
        unpack(PLAN.motifs_inputs),
    output:
        seqlets=paths.fill(paths.ATTRIBUTION_MOTIFS, table="seqlets"),
        recovery=paths.fill(paths.ATTRIBUTION_MOTIFS, table="recovery"),
        agreement=paths.fill(paths.ATTRIBUTION_MOTIFS, table="agreement"),
        planted=paths.fill(paths.ATTRIBUTION_MOTIFS, table="planted"),
        maps=paths.fill(paths.ATTRIBUTION_MOTIFS, table="maps"),
        logos_png=report(
            paths.fill(paths.ATTRIBUTION_FIGURE, figure="logos", ext="png"),
            caption="../report/logos.rst",
            category="Fig. 6: attribution",
            subcategory="{task}",
        ),
        logos_pdf=paths.fill(paths.ATTRIBUTION_FIGURE, figure="logos", ext="pdf"),
        recovery_png=report(
            paths.fill(paths.ATTRIBUTION_FIGURE, figure="recovery", ext="png"),
            caption="../report/recovery.rst",
            category="Fig. 6: attribution",
            subcategory="{task}",
        ),
        recovery_pdf=paths.fill(paths.ATTRIBUTION_FIGURE, figure="recovery", ext="pdf"),
    log:
        "logs/attribution_motifs/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        motifs=PLAN.motifs_file,
        settings=lambda wc: config.get("attribution", {}),
    script:
        "../scripts/attribution_motifs.py"
