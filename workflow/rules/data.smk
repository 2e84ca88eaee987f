rule prepare_task:
    input:
        task_source_files,
    output:
        splits=expand("resources/data/{{task}}/{split}.parquet", split=SPLITS),
        meta="resources/data/{task}/task.json",
    log:
        "logs/prepare_task/{task}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        task=task_config,
    script:
        "../scripts/prepare_task.py"
