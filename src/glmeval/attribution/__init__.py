"""Attribution and motif analysis (docs/attribution.md): maps of one-hot models, of
probes on gLM embeddings and of the language models themselves (`maps`), motifs in them
(`motifs`), global importance analysis of motif pairs (`gia`), figures (`plots`) and the
workflow's steps (`run`)."""
