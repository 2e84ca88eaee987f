rule data:
    """Every task and variant set, prepared (downloads fetched as needed)."""
    input:
        PLAN.prepared_data,
    localrule: True


rule download:
    """Every download the configured tasks, variants and models use (run where the network
    is reachable)."""
    input:
        PLAN.downloads,
    localrule: True


rule preflight:
    """Check from a login node, before any job, everything the run needs from outside: the
    downloads, the hub models, disk, packages, the SLURM profile (glmeval.preflight)."""
    log:
        "logs/preflight.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    script:
        "../scripts/preflight.py"


rule fetch_download:
    output:
        directory(paths.DOWNLOAD),
    log:
        "logs/fetch_download/{download}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        spec=lambda wc: config["downloads"][wc.download],
    script:
        "../scripts/fetch_download.py"


rule prepare_task:
    input:
        PLAN.task_sources,
    output:
        splits=expand(paths.TASK_SPLIT, split=SPLITS, allow_missing=True),
        meta=paths.TASK_META,
    log:
        "logs/prepare_task/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        task=PLAN.task_settings,
    script:
        "../scripts/prepare_task.py"


rule prepare_variants:
    input:
        PLAN.variants_sources,
    output:
        variants=paths.VARIANTS,
        meta=paths.VARIANTS_META,
        exclusions=paths.VARIANTS_EXCLUSIONS,
    log:
        "logs/prepare_variants/{variants}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        source=lambda wc: glm_config.resolve_files(config["variants"][wc.variants]),
    script:
        "../scripts/prepare_variants.py"


use rule prepare_variants as prepare_variant_windows with:
    """A variants dataset at another window length: a zero-shot model's own (zeroshot.windows)."""
    output:
        variants=paths.VARIANTS_WINDOW,
        meta=paths.VARIANTS_WINDOW_META,
        exclusions=paths.VARIANTS_WINDOW_EXCLUSIONS,
    log:
        "logs/prepare_variants/{variants}/L{length}.log",
    params:
        source=lambda wc: {
            **glm_config.resolve_files(config["variants"][wc.variants]),
            "length": int(wc.length),
        },
