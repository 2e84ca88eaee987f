rule zeroshot_scores:
    """Zero-shot scores of one model on one variants dataset: a GPU job on a cluster."""
    input:
        unpack(variant_model_inputs),
    output:
        paths.ZEROSHOT_SCORES,
    log:
        "logs/zeroshot_scores/{variants}/{model}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=model_config,
        zeroshot=lambda wc: config["variants"][wc.variants]["zeroshot"],
        device=config["device"],
    script:
        "../scripts/zeroshot_scores.py"


rule transfer_effects:
    """A trained activity probe's alt - ref predictions on the variants: a GPU job."""
    input:
        unpack(variant_model_inputs),
        probe=paths.fill(paths.PROBE_MODEL, fraction=1),
    output:
        paths.TRANSFER_EFFECTS,
    log:
        "logs/transfer_effects/{variants}/{task}/{model}/{representation}/L{layer}/{probe}/seed{seed}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=model_config,
        elements=transfer_elements,
        device=config["device"],
    script:
        "../scripts/transfer_effects.py"


rule variant_tables:
    """Per-element correlations with CIs, and the Table 1 of a dataset with measured effects
    (CAGI5's, or the column a user's variants name with effect:)."""
    input:
        variants=paths.VARIANTS,
        zeroshot=lambda wc: ZEROSHOT.get(wc.variants, []),
        transfer=lambda wc: [t.path for t in TRANSFER if t.variants == wc.variants],
    output:
        table="results/tables/{variants}_table1.csv",
        markdown="results/tables/{variants}_table1.md",
        correlations="results/tables/{variants}_correlations.csv",
    log:
        "logs/variant_tables/{variants}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        transfer_labels=lambda wc: [
            dataclasses.asdict(t.job) for t in TRANSFER if t.variants == wc.variants
        ],
        cell_types=lambda wc: config["variants"][wc.variants]["cell_types"],
        windows=zeroshot_windows,
        length=lambda wc: config["variants"][wc.variants].get("length"),
        n_boot=config["bootstrap"],
        overlaps=lambda wc: TRAINING_OVERLAPS.get(wc.variants, {}),
        effect=lambda wc: effect_column(config["variants"][wc.variants]),
    script:
        "../scripts/variant_tables.py"
