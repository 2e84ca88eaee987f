"""Attribution and motif analysis (docs/attribution.md): maps of one-hot models, of
probes on gLM embeddings and of the language models themselves (`maps`), what each map holds
and its importance per base (`importance`), motifs in them (`motifs`), global importance
analysis of motif pairs (`gia`) and the workflow's steps (`run`); the figures are
`glmeval.figures.attribution`."""
