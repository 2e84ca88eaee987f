rule extract_embeddings:
    input:
        unpack(PLAN.embedding_inputs),
    output:
        directory(paths.EMBEDDINGS),
    log:
        "logs/extract_embeddings/{model}/{task}/{split}.log",
    conda:
        "../../envs/glmeval.yaml"
    resources:
        mem_mb=extraction_resource("mem_mb"),
        runtime=extraction_resource("runtime"),
    params:
        model=PLAN.model_settings,
        token_layers=PLAN.token_layers,
        device=config["device"],
    script:
        "../scripts/extract_embeddings.py"
