rule attribution:
    """Every configured attribution map, motif table, figure and GIA table."""
    input:
        ATTRIBUTION,
    localrule: True


rule synthetic_motifs:
    """The synthetic tasks' own motifs as a MEME file (the demo's motif database)."""
    output:
        "resources/motifs/synthetic.meme",
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
        unpack(attribution_reference),
    output:
        "results/attribution/{task}/selection.parquet",
    log:
        "logs/attribution_selection/{task}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        top_k=lambda wc: config["attribution"]["top_k"],
    script:
        "../scripts/attribution_selection.py"


rule attribution_maps:
    """The maps of one model (through one probe, or the LM's own): a GPU job on a cluster."""
    input:
        unpack(attribution_map_inputs),
    output:
        directory(paths.ATTRIBUTION_MAPS),
    log:
        "logs/attribution_maps/{task}/{model}/{probe}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        job=lambda wc: dataclasses.asdict(attribution_job(wc)),
        model=model_config,
        settings=lambda wc: config["attribution"],
        device=config["device"],
    script:
        "../scripts/attribution_maps.py"


rule attribution_gia:
    """Global importance analysis of motif pairs: a GPU job on a cluster."""
    input:
        unpack(gia_inputs),
    output:
        "results/attribution/{task}/gia.csv",
    log:
        "logs/attribution_gia/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        gia=lambda wc: config["attribution"]["tasks"][wc.task]["gia"],
        job=lambda wc: dataclasses.asdict(gia_run(wc)),
        model=lambda wc: plan.model_settings(
            config, config["attribution"]["tasks"][wc.task]["gia"]["model"]
        ),
        settings=lambda wc: config["attribution"],
        device=config["device"],
    script:
        "../scripts/attribution_gia.py"


rule attribution_motifs:
    """Seqlets matched to the motif database, motif recovery, map agreement; the figures."""
    input:
        unpack(motifs_inputs),
    output:
        seqlets="results/attribution/{task}/motifs/seqlets.csv",
        recovery="results/attribution/{task}/motifs/recovery.csv",
        agreement="results/attribution/{task}/motifs/agreement.csv",
        maps="results/attribution/{task}/motifs/maps.csv",
        logos_png=report(
            "results/attribution/{task}/logos.png",
            caption="../report/logos.rst",
            category="Fig. 6: attribution",
            subcategory="{task}",
        ),
        logos_pdf="results/attribution/{task}/logos.pdf",
        recovery_png=report(
            "results/attribution/{task}/recovery.png",
            caption="../report/recovery.rst",
            category="Fig. 6: attribution",
            subcategory="{task}",
        ),
        recovery_pdf="results/attribution/{task}/recovery.pdf",
    log:
        "logs/attribution_motifs/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        motifs=motifs_file(),
        settings=lambda wc: config.get("attribution", {}),
    script:
        "../scripts/attribution_motifs.py"
