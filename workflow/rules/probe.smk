rule train_probe:
    input:
        task="resources/data/{task}/task.json",
        embeddings=expand("results/embeddings/{{model}}/{{task}}/{split}", split=SPLITS),
    output:
        metrics="results/probes/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}/metrics.json",
        predictions="results/probes/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}/predictions.parquet",
    log:
        "logs/train_probe/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}.log",
    conda:
        "../../envs/glmeval.yaml"
    threads: 1
    params:
        probe=probe_config,
        device=device(),
    script:
        "../scripts/train_probe.py"
