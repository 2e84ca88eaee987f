"""Tiny random-initialised language models built offline, saved with `save_pretrained`.

They exercise exactly the loading path of hub checkpoints (AutoTokenizer / AutoModel on a
directory) in tests and the demo:

- `tiny_nt`: an ESM masked LM with the Nucleotide Transformer v1 vocabulary (<unk> <pad> <mask>
  <cls>, all 4096 6-mers, A T C G N, <eos> <bos>): non-overlapping 6-mers from the left, leftover
  bases and N as single-nucleotide tokens, a CLS token and no EOS, as in NT.
- `tiny_mistral` / `tiny_mixtral`: a Mistral (dense) or Mixtral (mixture-of-experts) causal LM
  with a byte-pair-encoding tokenizer trained on seeded random DNA, with DNABERT-2's special
  tokens and [CLS] ... [SEP] template.
- `tiny_bert`: a BERT masked LM with that BPE tokenizer, as GENA-LM is built.
- `tiny_grover`: GROVER's shape (`PoetschLab/GROVER`): a BERT masked LM of 512 positions with a
  609-token BPE vocabulary (600 merges of A, C, G, T and five special tokens), whose tokenizer
  files declare only [CLS], [MASK] and [PAD] as special: its template still adds [SEP], and
  its model maps an unknown base to [UNK], tokens the wrapper does not name.
- `tiny_gpn`: GPN's dilated-convolution masked LM from the `gpn` package, with GPN's
  character tokenizer ([PAD] [MASK] [UNK] a c g t; one token per base, no special tokens added).
"""

from __future__ import annotations

import itertools
import json
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    EsmConfig,
    EsmForMaskedLM,
    EsmTokenizer,
    MistralConfig,
    MistralForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
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
    tokenizer = nt_tokenizer(out_dir, max_tokens)
    vocab = tokenizer.get_vocab()
    config = EsmConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_tokens,
        position_embedding_type="absolute",
        pad_token_id=vocab["<pad>"],
        mask_token_id=vocab["<mask>"],
        emb_layer_norm_before=False,
        token_dropout=False,
    )
    _save(out_dir, EsmForMaskedLM, config, tokenizer, seed)


def nt_tokenizer(out_dir: Path, max_tokens: int) -> EsmTokenizer:
    """The Nucleotide Transformer tokenizer (v1 and v2 share it), its vocab.txt in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=6)]
    vocab = NT_SPECIALS + kmers + list("ATCGN") + ["<eos>", "<bos>"]
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return EsmTokenizer(
        str(out_dir / "vocab.txt"),
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<cls>",
        eos_token=None,
        model_max_length=max_tokens,
    )


def _save(out_dir: Path, model_class, config, tokenizer, seed: int) -> None:
    """Initialise `model_class(config)` under `seed`; save it and its tokenizer to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model_class(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def bpe_tokenizer(vocab_size: int, max_tokens: int, seed: int = 0) -> PreTrainedTokenizerFast:
    """A DNA byte-pair-encoding tokenizer trained on seeded random sequence, [CLS] x [SEP]."""
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
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        model_max_length=max_tokens,
    )


def _bpe_lm(
    config_class,
    model_class,
    out_dir: str | Path,
    hidden_size: int = 32,
    n_layers: int = 2,
    n_heads: int = 4,
    vocab_size: int = 512,
    max_tokens: int = 512,
    seed: int = 0,
    causal: bool = False,
    **architecture,
) -> None:
    """A transformers LM with the BPE tokenizer; causal ones get grouped-query attention and
    BOS/EOS ids; `architecture` adds config settings (e.g. Mixtral's experts)."""
    tokenizer = bpe_tokenizer(vocab_size, max_tokens, seed)
    if causal:
        architecture.update(num_key_value_heads=n_heads // 2, bos_token_id=1, eos_token_id=2)
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_tokens,
        pad_token_id=3,
        **architecture,
    )
    _save(Path(out_dir), model_class, config, tokenizer, seed)


def build_tiny_grover(
    out_dir: str | Path, hidden_size: int = 32, n_layers: int = 2, n_heads: int = 4, seed: int = 0
) -> None:
    out_dir = Path(out_dir)
    tokenizer = bpe_tokenizer(609, 512, seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    _save(out_dir, BertForMaskedLM, config, tokenizer, seed)
    for path in out_dir.glob("*.json"):  # the tokenizer files as GROVER's hub repository has them
        if path.name.startswith(("tokenizer_config", "special_tokens")):
            path.unlink()
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "clean_up_tokenization_spaces": True,
                "do_lower_case": False,
                "model_max_length": 512,
                "special_tokens": {
                    "mask_token": "[MASK]",
                    "pad_token": "[PAD]",
                    "sep_token": "[SEP]",
                },
                "tokenize_chinese_chars": False,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "trust_remote_code": True,
            },
            indent=2,
        )
    )
    specials = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]"}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


def build_tiny_gpn(out_dir, hidden_size=32, n_layers=3, seed=0) -> None:
    import gpn
    from gpn.legacy import ConvNetConfig, ConvNetForMaskedLM

    gpn.register_auto_classes("gpn")
    vocab = {token: i for i, token in enumerate(["[PAD]", "[MASK]", "[UNK]", *"acgt"])}
    chars = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    chars.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=chars,
        pad_token="[PAD]",
        mask_token="[MASK]",
        unk_token="[UNK]",
    )
    config = ConvNetConfig(vocab_size=len(vocab), hidden_size=hidden_size, n_layers=n_layers)
    _save(Path(out_dir), ConvNetForMaskedLM, config, tokenizer, seed)


BUILDERS = {
    "tiny_nt": build_tiny_nt,
    "tiny_mistral": partial(_bpe_lm, MistralConfig, MistralForCausalLM, causal=True),
    "tiny_mixtral": partial(
        _bpe_lm,
        MixtralConfig,
        MixtralForCausalLM,
        causal=True,
        num_local_experts=4,
        num_experts_per_tok=2,
    ),
    "tiny_bert": partial(_bpe_lm, BertConfig, BertForMaskedLM),
    "tiny_grover": build_tiny_grover,
    "tiny_gpn": build_tiny_gpn,
}
