"""Tiny random-initialised language models built offline, saved with `save_pretrained`.

They exercise exactly the loading path of hub checkpoints (AutoTokenizer / AutoModel on a
directory) in tests and the demo:

- `tiny_nt`: an ESM masked LM with the Nucleotide Transformer v1 vocabulary (<unk> <pad> <mask>
  <cls>, all 4096 6-mers, A T C G N, <eos> <bos>): non-overlapping 6-mers from the left, leftover
  bases and N as single-nucleotide tokens, a CLS token and no EOS, as in NT.
- `tiny_mistral`: a Mistral causal LM with a byte-pair-encoding tokenizer trained on seeded
  random DNA, with DNABERT-2's special tokens and [CLS] ... [SEP] template.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    EsmConfig,
    EsmForMaskedLM,
    EsmTokenizer,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
)

NT_SPECIALS = ["<unk>", "<pad>", "<mask>", "<cls>"]
BPE_SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]


def build_tiny_nt(
    out_dir: str | Path,
    hidden_size: int = 32,
    n_layers: int = 2,
    n_heads: int = 4,
    max_tokens: int = 1002,
    seed: int = 0,
) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=6)]
    vocab = NT_SPECIALS + kmers + list("ATCGN") + ["<eos>", "<bos>"]
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = EsmTokenizer(
        str(out_dir / "vocab.txt"),
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<cls>",
        eos_token=None,
        model_max_length=max_tokens,
    )
    config = EsmConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_tokens,
        position_embedding_type="absolute",
        pad_token_id=vocab.index("<pad>"),
        mask_token_id=vocab.index("<mask>"),
        emb_layer_norm_before=False,
        token_dropout=False,
    )
    torch.manual_seed(seed)
    EsmForMaskedLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def build_tiny_mistral(
    out_dir: str | Path,
    hidden_size: int = 32,
    n_layers: int = 2,
    n_heads: int = 4,
    vocab_size: int = 512,
    max_tokens: int = 512,
    seed: int = 0,
) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = ("".join(rng.choice(list("ACGT"), size=1000)) for _ in range(400))
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    bpe.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=BPE_SPECIALS)
    )
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=max_tokens,
    )
    config = MistralConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_heads // 2,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_tokens,
        pad_token_id=3,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(seed)
    MistralForCausalLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


BUILDERS = {"tiny_nt": build_tiny_nt, "tiny_mistral": build_tiny_mistral}
