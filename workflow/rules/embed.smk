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
    wildcard_constraints:
        model=PLAN.model_names(kmer=False),
    conda:
        "../../envs/glmeval.yaml"
    resources:
        mem_mb=extraction_resource("mem_mb"),
        runtime=extraction_resource("runtime"),
    params:
        model=PLAN.model_settings,
        token_layers=PLAN.token_layers,
        pooled=True,
        device=config["device"],
    script:
        "../scripts/extract_embeddings.py"


use rule extract_embeddings as kmer_spectra with:
    """A kmer model's spectra of a task's splits: numpy counting, no network, a CPU job."""
    log:
        "logs/kmer_spectra/{model}/{task}.log",
    wildcard_constraints:
        model=PLAN.model_names(kmer=True),
    resources:
        mem_mb=kmer_resource("mem_mb"),
        runtime=kmer_resource("runtime"),


use rule extract_embeddings as extract_token_states with:
    """Under a disk budget (storage.max_tokens_gb), one part of a model's token layers on a
    task, by another forward pass: temporary, deleted once the probes that read it have run.
    It waits for the previous wave's probes (ancient: their reruns do not redo it)."""
    input:
        unpack(PLAN.embedding_inputs),
        previous_wave=ancient(PLAN.previous_wave),
    output:
        **{
            split: temp(directory(paths.fill(paths.TOKEN_STATES, split=split)))
            for split in SPLITS
        },
    log:
        "logs/extract_token_states/{model}/{task}/tokens{part}.log",
    params:
        model=PLAN.model_settings,
        token_layers=lambda wc: list(PLAN.token_part(wc).layers),
        pooled=False,
        device=config["device"],
