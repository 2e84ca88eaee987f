"""What glmeval's transformers-5 compatibility step costs when a model loads (never per batch).

    python benchmarks/load_overhead.py [--repeats 5]

The buffer guard (`glmeval.models.compat.restore_buffers`) builds the model twice with its
parameters on the meta device to re-derive non-persistent buffers. Timed here on the
Nucleotide Transformer 2.5B and 500M configurations (random init never happens: the model
under test is itself built on the meta device), median of --repeats runs.
"""

import argparse
import statistics
import time

import torch
from transformers import EsmConfig, EsmForMaskedLM

from glmeval.models import compat

CONFIGS = {
    "NT-2.5B": {"hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 20},
    "NT-500M": {"hidden_size": 1280, "num_hidden_layers": 24, "num_attention_heads": 20},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, size in CONFIGS.items():
        config = EsmConfig(
            vocab_size=4107,
            intermediate_size=4 * size["hidden_size"],
            max_position_embeddings=1002,
            position_embedding_type="absolute",
            pad_token_id=1,
            mask_token_id=2,
            emb_layer_norm_before=False,
            token_dropout=False,
            **size,
        )
        with torch.device("meta"):
            model = EsmForMaskedLM(config)
        for module in model.modules():  # as transformers 5 leaves them: uninitialised memory
            for key, buffer in module._buffers.items():
                module._buffers[key] = torch.empty_like(buffer, device="cpu")
        seconds, restored = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            again = compat.restore_buffers(model, name, "masked_lm")
            seconds.append(time.perf_counter() - start)
            restored = again if restored is None else restored
        print(
            f"{name}: buffer guard {statistics.median(seconds):.2f} s per load "
            f"(median of {args.repeats}); re-derived {len(restored)} buffer(s) on the first run"
        )


if __name__ == "__main__":
    main()
