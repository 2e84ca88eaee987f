"""Model families behind one Embedder protocol, and how a configured model is resolved."""

from __future__ import annotations

from pathlib import Path

from glmeval.models.base import Embedder, Encoded, TokenizationError

#: Families and whether their token 0 is a CLS token worth probing (static, for the DAG).
FAMILIES_WITH_CLS = {"onehot": False, "masked_lm": True, "causal_lm": False}


def load_embedder(name: str, model: dict, path: str | None, device: str = "cpu") -> Embedder:
    """The Embedder of configured model `name` (`model` = its config entry) stored at `path`."""
    family = model["family"]
    if family == "onehot":
        from glmeval.models.onehot import OneHotEmbedder

        return OneHotEmbedder(name, n_value=model.get("n_value", 0.0), device=device)
    from glmeval.models.hf import HFEmbedder

    embedder = HFEmbedder(
        name,
        path,
        has_cls=FAMILIES_WITH_CLS[family],
        max_tokens=model.get("max_tokens"),
        device=device,
    )
    if embedder.n_layers != model["n_layers"]:
        raise ValueError(
            f"models.{name}.n_layers is {model['n_layers']} but the checkpoint at {path} has "
            f"{embedder.n_layers} layers. Set n_layers: {embedder.n_layers}."
        )
    return embedder


def resolve_model(model: dict, out_dir: str | Path) -> None:
    """Materialise a configured model's source into `out_dir` (a builder or a hub snapshot)."""
    source = model["source"]
    if "builder" in source:
        from glmeval.models.build import BUILDERS

        BUILDERS[source["builder"]](out_dir, n_layers=model["n_layers"], **source.get("args", {}))
    else:
        from huggingface_hub import snapshot_download

        snapshot_download(source["hub"], revision=source["revision"], local_dir=out_dir)


__all__ = ["Embedder", "Encoded", "TokenizationError", "load_embedder", "resolve_model"]
