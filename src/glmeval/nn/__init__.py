"""Neural-network building blocks shared by the probes (glmeval.probes) and the models that
the workflow trains itself (glmeval.models.rbp): Keras-default layers and initialisers
(`layers`), the training loop (`train`) and its row-wise batch reading (`rows`). It imports
neither of its users."""
