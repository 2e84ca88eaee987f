"""A GENERator-shaped k-mer tokenizer, remote code as upstream's `tokenizer.py`
(`GenerTeam/GENERator-eukaryote-1.2b-base`, class `DNAKmerTokenizer`), written anew:

- a slow tokenizer (no offsets); ids: 32 special tokens (<oov>=0 <s>=1 </s>=2 <pad>=3 <mask>=4,
  then reserved ones), then every k-mer of "ATCG" in `itertools.product` order;
- a sequence splits into k-mers from the left; a shorter leftover run of capitals (a length
  not a multiple of k) stays one piece, which is no k-mer and becomes <oov>, as does a k-mer
  with N; other characters (lower case) are single pieces, <oov> too;
- BOS before the sequence, no EOS (`add_bos_token: true`, `add_eos_token: false`);
- it sets `bos_token` and `bos_token_id` before calling `super().__init__()`, which transformers
  5 no longer allows (AttributeError: no `_special_tokens_map`).
"""

import itertools
import re

from transformers import PreTrainedTokenizer

SPECIALS = ["<oov>", "<s>", "</s>", "<pad>", "<mask>", *(f"<reserved{i}>" for i in range(27))]


class DNAKmerTokenizer(PreTrainedTokenizer):
    model_input_names = ["input_ids", "attention_mask"]  # noqa: RUF012 (as upstream)

    def __init__(self, k, **kwargs):
        self.k = k
        kmers = ["".join(p) for p in itertools.product("ATCG", repeat=k)]
        self.vocab = {token: i for i, token in enumerate([*SPECIALS, *kmers])}
        self.ids_to_tokens = {i: token for token, i in self.vocab.items()}
        self.pieces = re.compile(f"[A-Z]{{{k}}}|[A-Z]+|.", re.DOTALL)
        self.bos_token = "<s>"  # before super().__init__(), as upstream
        self.bos_token_id = self._convert_token_to_id("<s>")
        super().__init__(**kwargs)

    @property
    def vocab_size(self):
        return len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab)

    def _tokenize(self, text, **kwargs):
        return self.pieces.findall(text)

    def _convert_token_to_id(self, token):
        return self.vocab.get(token, self.vocab["<oov>"])

    def _convert_id_to_token(self, index):
        return self.ids_to_tokens.get(index, "<oov>")

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return [self.bos_token_id, *token_ids_0, *(token_ids_1 or [])]

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return ()
