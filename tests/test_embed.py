import numpy as np
import pytest
import torch

from glmeval.embed import extract, plan_batches, pool, storage_report
from glmeval.io import read_json
from glmeval.models import load_embedder
from glmeval.models.onehot import OneHotEmbedder

SEQS = ["ACGTACGTACGTAAC", "ACGT" * 9, "ACGTNACGTACGTTTTGCA", "ACGTAC" * 4, "GATTACA" * 3]


def test_pool_excludes_special_and_padding():
    states = torch.arange(2 * 1 * 4 * 1, dtype=torch.float32).reshape(2, 1, 4, 1)
    content = torch.tensor([[False, True, True, False]])
    pooled = pool(states, content, has_cls=True)
    assert pooled.shape == (1, 2, 2, 1)
    assert pooled[0, 0, 0, 0] == 0 and pooled[0, 0, 1, 0] == 1.5  # cls = token 0; mean of 1, 2
    assert torch.isnan(pool(states, content, has_cls=False)[0, :, 0]).all()


def test_artifact_in_input_order_and_matches_direct_forward(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    extract(nt, SEQS, tmp_path / "emb", token_layers=[1], batch_size=2)
    meta = read_json(tmp_path / "emb" / "meta.json")
    pooled = np.load(tmp_path / "emb" / "pooled.npy")
    tokens = np.load(tmp_path / "emb" / "tokens.L1.npy")
    encoded = nt.encode(SEQS)
    width = max(map(len, encoded))
    assert pooled.shape == (5, 3, 2, 32) and pooled.dtype == np.float16
    assert tokens.shape == (5, width, 32) and meta["token_layers"] == [1]
    assert meta["bytes"] == sum(p.stat().st_size for p in (tmp_path / "emb").glob("*.npy"))
    for i, enc in enumerate(encoded):  # bucketing keeps rows in input order
        states, _ = nt.hidden_states([enc])
        content = ~torch.from_numpy(enc.special)
        mean = states[:, 0, content].mean(1).numpy()
        np.testing.assert_allclose(pooled[i, :, 1], mean, atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(pooled[i, :, 0], states[:, 0, 0].numpy(), atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(
            tokens[i, : len(enc)], states[1, 0].numpy(), atol=2e-3, rtol=2e-3
        )
        assert not tokens[i, len(enc) :].any()


class Counting:
    """Wraps an embedder; counts forward calls and the rows they ran; fails on demand."""

    def __init__(self, inner, fail_after=None, max_tokens=None):
        self.inner, self.fail_after, self.max_tokens = inner, fail_after, max_tokens
        self.calls, self.rows, self.ooms = 0, 0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hidden_states(self, batch):
        if self.fail_after is not None and self.calls == self.fail_after:
            raise RuntimeError("killed")
        if self.max_tokens and len(batch) * max(map(len, batch)) > self.max_tokens:
            self.ooms += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        self.calls += 1
        self.rows += len(batch)
        return self.inner.hidden_states(batch)


def _arrays(path):
    return {p.name: np.load(p) for p in sorted(path.glob("*.npy"))}


def _long_seqs(n=23, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), rng.integers(20, 120))) for _ in range(n)]


def test_interrupted_extraction_resumes_bit_identical(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    seqs = _long_seqs()
    options = {"token_layers": [0, 2], "batch_size": 3, "shard_rows": 6}
    extract(nt, seqs, tmp_path / "whole", **options)

    dying = Counting(nt, fail_after=5)  # 2 shards of 2 batches done, killed in the 3rd shard
    with pytest.raises(RuntimeError, match="killed"):
        extract(dying, seqs, tmp_path / "emb", **options)
    assert not (tmp_path / "emb").exists()
    assert read_json(tmp_path / "emb.partial" / "progress.json")["shards_done"] == 2

    resumed = Counting(nt)
    extract(resumed, seqs, tmp_path / "emb", **options)
    assert resumed.rows == len(seqs) - 12  # only the unfinished shards ran again
    assert not (tmp_path / "emb.partial").exists()
    whole, emb = _arrays(tmp_path / "whole"), _arrays(tmp_path / "emb")
    assert whole.keys() == emb.keys() == {"pooled.npy", "tokens.L0.npy", "tokens.L2.npy"}
    for name in whole:
        assert whole[name].tobytes() == emb[name].tobytes(), name

    again = Counting(nt)
    extract(again, seqs, tmp_path / "emb", **options)  # complete and up to date: nothing runs
    assert again.calls == 0


def test_changed_inputs_discard_partial_work(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    seqs = _long_seqs()
    with pytest.raises(RuntimeError):
        extract(Counting(nt, fail_after=2), seqs, tmp_path / "emb", batch_size=3, shard_rows=3)
    changed = Counting(nt)
    extract(changed, seqs[:-1], tmp_path / "emb", batch_size=3, shard_rows=3)
    assert changed.rows == len(seqs) - 1
    reference = tmp_path / "ref"
    extract(nt, seqs[:-1], reference, batch_size=3, shard_rows=3)
    assert (
        _arrays(reference)["pooled.npy"].tobytes()
        == _arrays(tmp_path / "emb")["pooled.npy"].tobytes()
    )


KILL_SCRIPT = """
import sys, time
from glmeval.embed import extract
from glmeval.models import load_embedder

class Slow:
    def __init__(self, inner): self.inner = inner
    def __getattr__(self, name): return getattr(self.inner, name)
    def hidden_states(self, batch):
        time.sleep(0.2)
        return self.inner.hidden_states(batch)

nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, sys.argv[1])
seqs = [line for line in open(sys.argv[2]).read().split()]
extract(Slow(nt), seqs, sys.argv[3], token_layers=[1], batch_size=2, shard_rows=4)
"""


def test_sigkilled_job_resumes_from_its_last_shard(tiny_models, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    seqs = _long_seqs(n=40, seed=3)
    (tmp_path / "seqs.txt").write_text("\n".join(seqs))
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    args = [sys.executable, str(script), str(tiny_models["tiny_nt"]), str(tmp_path / "seqs.txt")]
    job = subprocess.Popen([*args, str(tmp_path / "emb")], stderr=subprocess.DEVNULL)
    progress = tmp_path / "emb.partial" / "progress.json"
    deadline = time.time() + 120
    while not (progress.exists() and read_json(progress)["shards_done"] >= 2):
        assert job.poll() is None and time.time() < deadline, "the job ended before the kill"
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    killed_at = read_json(progress)["shards_done"]
    assert 2 <= killed_at < 10 and not (tmp_path / "emb").exists()
    subprocess.run([*args, str(tmp_path / "emb")], check=True, stderr=subprocess.DEVNULL)
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    extract(nt, seqs, tmp_path / "whole", token_layers=[1], batch_size=2, shard_rows=4)
    whole, emb = _arrays(tmp_path / "whole"), _arrays(tmp_path / "emb")
    for name in ("pooled.npy", "tokens.L1.npy"):
        assert whole[name].tobytes() == emb[name].tobytes(), name


def test_out_of_memory_backs_off_and_restarts_the_shard(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    seqs = _long_seqs()
    limited = Counting(nt, max_tokens=60)  # a 'GPU' that holds 60 tokens per batch
    extract(limited, seqs, tmp_path / "emb", token_layers=[2], shard_rows=8)
    meta = read_json(tmp_path / "emb" / "meta.json")
    assert limited.ooms > 0 and meta["batch"] == {"size": None, "tokens": 32}  # 8192 halved 8×
    reference = tmp_path / "ref"
    extract(nt, seqs, reference, token_layers=[2], batch_size=1)
    for name, array in _arrays(reference).items():
        np.testing.assert_allclose(_arrays(tmp_path / "emb")[name], array, atol=1e-3, rtol=1e-3)


def test_out_of_memory_on_one_sequence_is_a_named_error(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    with pytest.raises(torch.OutOfMemoryError, match=r"single \d+-token sequence.*window"):
        extract(Counting(nt, max_tokens=5), _long_seqs(), tmp_path / "emb")
    with pytest.raises(torch.OutOfMemoryError, match="batch_size 4"):
        extract(Counting(nt, max_tokens=5), _long_seqs(), tmp_path / "emb2", batch_size=4)


def test_token_budget_batches():
    lengths = np.array([10, 50, 30, 30, 20, 5])
    order = np.argsort(-lengths, kind="stable")
    batches = plan_batches(order, lengths, None, 100)
    assert [b.tolist() for b in batches] == [[1, 2], [3, 4, 0], [5]]
    assert all(len(b) * lengths[b].max() <= 100 for b in batches)
    assert [len(b) for b in plan_batches(order, lengths, 4, 100)] == [4, 2]


def test_float16_storage_error_within_half_an_ulp(tiny_models, tmp_path):
    """Stored values are the fp32 states rounded to float16: |error| <= 2^-11 |x| (+ 2^-25 for
    subnormals), i.e. a relative error of at most 4.9e-4."""
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    extract(nt, SEQS, tmp_path / "emb", token_layers=[2], batch_size=1)
    tokens = np.load(tmp_path / "emb" / "tokens.L2.npy").astype(np.float64)
    for i, enc in enumerate(nt.encode(SEQS)):
        exact = nt.hidden_states([enc])[0][2, 0].double().numpy()
        error = np.abs(tokens[i, : len(enc)] - exact)
        assert (error <= 2.0**-11 * np.abs(exact) + 2.0**-25).all()
        assert error.max() > 0  # the bound is tight enough to see rounding


def test_storage_is_recorded_against_the_papers_fp32_cache(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    extract(nt, SEQS, tmp_path / "emb", token_layers=[1])
    meta = read_json(tmp_path / "emb" / "meta.json")
    width = max(map(len, nt.encode(SEQS)))
    ours = 3 * 2 * 32 * 2 + width * 32 * 2  # pooled (3 layers × cls/mean) + one token layer, fp16
    assert meta["bytes_per_sequence"] == pytest.approx(ours + 2 * 128 / 5)  # + two .npy headers
    assert meta["paper_fp32_bytes_per_sequence"] == {
        "one_layer": width * 32 * 4,
        "all_layers": 3 * width * 32 * 4,
    }
    assert "per layer" in storage_report(meta)


def test_unknown_token_layer(tmp_path):
    with pytest.raises(ValueError, match=r"layers 0..0; token-level layers \[3\]"):
        extract(OneHotEmbedder(), SEQS, tmp_path / "emb", token_layers=[3])
