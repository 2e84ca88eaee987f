MODEL_SNAPSHOTS = sorted(
    {
        model_dir(m)
        for m in [
            *(m for task in config["tasks"].values() for m in task["models"]),
            *(
                m
                for v in config["variants"].values()
                for m in v.get("zeroshot", {}).get("models", [])
            ),
        ]
        if str(model_dir(m)).startswith(
            (paths.fill(paths.MODEL_SNAPSHOT, model=""), paths.DOWNLOADS)
        )
    }
)


rule models:
    """Snapshot, build or download every model the tasks and variants use (run where the
    hub is reachable)."""
    input:
        MODEL_SNAPSHOTS,
    localrule: True


# A hub snapshot is pinned by the model lock file (config models_lock): its first resolution
# adds an entry, later ones download and verify the locked commit (docs/models.md).
rule resolve_model:
    output:
        directory(paths.MODEL_SNAPSHOT),
    log:
        "logs/resolve_model/{model}.log",
    localrule: True
    conda:
        "../../envs/glmeval.yaml"
    params:
        model=model_config,
    script:
        "../scripts/resolve_model.py"


rule train_rbp_model:
    input:
        training_task_files,
    output:
        directory(paths.SUPERVISED_MODEL),
    log:
        "logs/train_rbp_model/{model}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        training=lambda wc: model_config(wc)["source"]["train"],
        device=config["device"],
    script:
        "../scripts/train_rbp_model.py"
