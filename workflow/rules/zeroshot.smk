rule zeroshot_scores:
    """Zero-shot scores of one model on one variants dataset: a GPU job on a cluster."""
    input:
        unpack(PLAN.variant_model_inputs),
    output:
        paths.ZEROSHOT_SCORES,
    log:
        "logs/zeroshot_scores/{variants}/{model}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=PLAN.model_settings,
        zeroshot=lambda wc: config["variants"][wc.variants]["zeroshot"],
        device=config["device"],
    script:
        "../scripts/zeroshot_scores.py"


rule transfer_effects:
    """A trained activity probe's alt - ref predictions on the variants: a GPU job."""
    input:
        unpack(PLAN.transfer_inputs),
    output:
        paths.TRANSFER_EFFECTS,
    log:
        "logs/transfer_effects/{variants}/{task}/{model}/{representation}/L{layer}/{probe}/seed{seed}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=PLAN.model_settings,
        elements=PLAN.transfer_elements,
        probe=lambda wc: PLAN.transfer_run(wc).model_path,
        device=config["device"],
    script:
        "../scripts/transfer_effects.py"


rule variant_tables:
    """Per-element correlations with CIs, and the Table 1 of a dataset with measured effects
    (CAGI5's, or the column a user's variants name with effect:)."""
    input:
        unpack(PLAN.variant_table_inputs),
    output:
        table=paths.fill(paths.VARIANT_TABLE1, ext="csv"),
        markdown=paths.fill(paths.VARIANT_TABLE1, ext="md"),
        correlations=paths.VARIANT_CORRELATIONS,
    log:
        "logs/variant_tables/{variants}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        transfer_labels=PLAN.transfer_labels,
        cell_types=lambda wc: config["variants"][wc.variants]["cell_types"],
        windows=PLAN.zeroshot_windows,
        length=lambda wc: config["variants"][wc.variants].get("length"),
        n_boot=config["bootstrap"],
        overlaps=lambda wc: PLAN.training_overlaps.get(wc.variants, {}),
        effect=PLAN.variant_effect,
    script:
        "../scripts/variant_tables.py"
