rule extract_embeddings:
    input:
        unpack(embedding_inputs),
    output:
        directory("results/embeddings/{model}/{task}/{split}"),
    log:
        "logs/extract_embeddings/{model}/{task}/{split}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=model_config,
        token_layers=token_layers,
        device=device(),
    script:
        "../scripts/extract_embeddings.py"
