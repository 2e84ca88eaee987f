rule extract_embeddings:
    """Every layer of one model over a task's three splits, one forward pass each (resumable by
    shards): a GPU job on a cluster."""
    input:
        unpack(PLAN.embedding_inputs),
    output:
        **{
            split: directory(paths.fill(paths.EMBEDDINGS, split=split))
            for split in SPLITS
        },
    log:
        "logs/extract_embeddings/{model}/{task}.log",
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
