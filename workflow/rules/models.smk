rule models:
    """Snapshot, build or download every model the tasks and variants use (run where the
    hub is reachable)."""
    input:
        PLAN.model_snapshots,
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
        model=PLAN.model_settings,
    script:
        "../scripts/resolve_model.py"


rule train_rbp_model:
    input:
        PLAN.training_task,
    output:
        directory(paths.SUPERVISED_MODEL),
    log:
        "logs/train_rbp_model/{model}.log",
    conda:
        "../../envs/glmeval.yaml"
    params:
        training=lambda wc: PLAN.model_settings(wc)["source"]["train"],
        device=config["device"],
    script:
        "../scripts/train_rbp_model.py"
