"""A Nucleotide-Transformer-v3-shaped tokenizer, remote code as upstream's tokenization_ntv3.py
(`InstaDeepAI/ntv3_base_model`, class `NTv3Tokenizer`), written anew: a slow character tokenizer
with vocab.json ({token: id}: <unk> <pad> <mask> <cls> <eos> <bos> A T C G N), bases upper-cased, anything else
<unk>, and no special tokens added to a sequence (no CLS, no EOS)."""

import json
from pathlib import Path

from transformers import PreTrainedTokenizer

TOKENS = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", *"ATCGN"]


class NTv3Tokenizer(PreTrainedTokenizer):
    vocab_files_names = {"vocab_file": "vocab.json"}  # noqa: RUF012 (as upstream)
    model_input_names = ["input_ids"]  # noqa: RUF012

    def __init__(self, vocab_file=None, **kwargs):
        default = {token: i for i, token in enumerate(TOKENS)}
        self._ids = json.loads(Path(vocab_file).read_text()) if vocab_file else default
        self._tokens = {i: token for token, i in self._ids.items()}
        for key, token in [
            ("unk_token", "<unk>"),
            ("pad_token", "<pad>"),
            ("mask_token", "<mask>"),
            ("cls_token", "<cls>"),
            ("eos_token", "<eos>"),
            ("bos_token", "<bos>"),
        ]:
            kwargs.setdefault(key, token)
        super().__init__(**kwargs)

    @property
    def vocab_size(self):
        return len(self._ids)

    def get_vocab(self):
        return dict(self._ids)

    def _tokenize(self, text, **kwargs):
        return [c.upper() if c.upper() in "ATCGN" else "<unk>" for c in text]

    def _convert_token_to_id(self, token):
        return self._ids.get(token, self._ids["<unk>"])

    def _convert_id_to_token(self, index):
        return self._tokens.get(index, "<unk>")

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return token_ids_0 + (token_ids_1 or [])

    def save_vocabulary(self, save_directory, filename_prefix=None):
        path = (
            Path(save_directory) / f"{filename_prefix + '-' if filename_prefix else ''}vocab.json"
        )
        path.write_text(json.dumps(self._ids))
        return (str(path),)
