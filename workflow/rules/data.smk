DOWNLOADS_USED = glm_config.downloads_needed(config)


rule data:
    """Every task and variant set, prepared (downloads fetched as needed)."""
    input:
        expand(paths.TASK_META, task=config["tasks"]),
        expand("resources/variants/{variants}/task.json", variants=config["variants"]),
        [p.replace("variants.parquet", "task.json") for p in VARIANT_WINDOWS],
    localrule: True


rule download:
    """Every download the configured tasks, variants and models use (run where the network
    is reachable)."""
    input:
        expand(paths.DOWNLOAD, download=DOWNLOADS_USED),
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
        task_source_files,
    output:
        splits=expand(paths.TASK_SPLIT, split=SPLITS, allow_missing=True),
        meta=paths.TASK_META,
    log:
        "logs/prepare_task/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        task=task_config,
    script:
        "../scripts/prepare_task.py"


rule prepare_variants:
    input:
        variants_source_files,
    output:
        variants=paths.VARIANTS,
        meta="resources/variants/{variants}/task.json",
        exclusions="resources/variants/{variants}/exclusions.tsv",
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
        meta="resources/variants/{variants}/L{length}/task.json",
        exclusions="resources/variants/{variants}/L{length}/exclusions.tsv",
    log:
        "logs/prepare_variants/{variants}/L{length}.log",
    wildcard_constraints:
        length=r"\d+",
    params:
        source=lambda wc: {
            **glm_config.resolve_files(config["variants"][wc.variants]),
            "length": int(wc.length),
        },
