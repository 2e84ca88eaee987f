import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared real data and models; tests using it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set GLMEVAL_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, build in BUILDERS.items():
        build(root / name, n_layers=2)
        paths[name] = root / name
    return paths


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> dict[str, Path]:
    """Remote-code checkpoints shaped like DNABERT-2, HyenaDNA and Caduceus (see standins/)."""
    import importlib.util
    import shutil

    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from glmeval.models.build import bpe_tokenizer

    code = REPO / "tests" / "standins" / "modeling_standin.py"
    spec = importlib.util.spec_from_file_location("modeling_standin", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    # HyenaDNA's CharacterTokenizer layout: [CLS] chars [SEP], A=7 C=8 G=9 T=10 N=11
    specials = ["[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]"]
    chars = Tokenizer(
        models.BPE(vocab={t: i for i, t in enumerate([*specials, *"ACGTN"])}, merges=[])
    )
    chars.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    chars.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 0), ("[SEP]", 1)]
    )
    hyena_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=chars, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", unk_token="[UNK]", model_max_length=1024,
    )
    root = tmp_path_factory.mktemp("standins")
    paths = {}
    for name, model_class, auto, tokenizer in [
        ("dnabert2", "StandinBertForMaskedLM", "AutoModelForMaskedLM", bpe_tokenizer(64, 512)),
        ("hyenadna", "StandinHyenaForCausalLM", "AutoModelForCausalLM", hyena_tokenizer),
        ("mamba", "StandinMambaForMaskedLM", "AutoModelForMaskedLM", hyena_tokenizer),
    ]:
        config = module.StandinConfig(vocab_size=len(tokenizer), hidden_size=16, n_layer=2)
        config.auto_map = {
            "AutoConfig": "modeling_standin.StandinConfig",
            auto: f"modeling_standin.{model_class}",
        }
        import torch

        torch.manual_seed(0)
        getattr(module, model_class)(config).save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        shutil.copy(code, root / name)
        paths[name] = root / name
    return paths
