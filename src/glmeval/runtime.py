"""Helpers of the running job, on the node it runs on (not the planning layer's)."""


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' where a GPU is visible, else 'cpu' (resolved by the job itself, on
    the node it runs on, not where the workflow is submitted)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
