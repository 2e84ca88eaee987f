rule resolve_model:
    output:
        directory("resources/models/{model}"),
    log:
        "logs/resolve_model/{model}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=model_config,
    script:
        "../scripts/resolve_model.py"
