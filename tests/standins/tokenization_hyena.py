"""A HyenaDNA-shaped character tokenizer, remote code as upstream's tokenization_hyena.py: a
slow tokenizer (no offsets), fixed ids [CLS]=0 [SEP]=1 [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5
[UNK]=6 then A C G T N, uppercase only, and `sequence + [SEP]` with no leading [CLS] (the
paper's standalone tokenizer put one there)."""

from transformers import PreTrainedTokenizer

SPECIALS = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]"]


class StandinHyenaTokenizer(PreTrainedTokenizer):
    model_input_names = ["input_ids"]  # noqa: RUF012 (as upstream)

    def __init__(self, model_max_length=1024, **kwargs):
        self._ids = {token: i for i, token in enumerate([*SPECIALS, *"ACGTN"])}
        self._tokens = {i: token for token, i in self._ids.items()}
        for key, token in [
            ("cls_token", "[CLS]"),
            ("sep_token", "[SEP]"),
            ("eos_token", "[SEP]"),
            ("bos_token", "[BOS]"),
            ("pad_token", "[PAD]"),
            ("mask_token", "[MASK]"),
            ("unk_token", "[UNK]"),
        ]:
            kwargs.setdefault(key, token)
        super().__init__(model_max_length=model_max_length, **kwargs)

    @property
    def vocab_size(self):
        return len(self._ids)

    def get_vocab(self):
        return dict(self._ids)

    def _tokenize(self, text, **kwargs):
        return list(text)

    def _convert_token_to_id(self, token):
        return self._ids.get(token, self._ids["[UNK]"])

    def _convert_id_to_token(self, index):
        return self._tokens[index]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return token_ids_0 + [self.sep_token_id]

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return ()
