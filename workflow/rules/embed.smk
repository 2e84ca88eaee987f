rule extract_embeddings:
    input:
        unpack(embedding_inputs),
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
        model=model_config,
        token_layers=token_layers,
        device=config["device"],
    script:
        "../scripts/extract_embeddings.py"
