"""`glmeval preflight` against loopback servers that answer as Zenodo's REST API, the Hugging Face
hub's model API and UCSC's file server do: the paper configuration passes (and each of its
download specs goes through the downloader), and each failure a login node can see before the
first job is one line naming its key and the fix. No test reaches the internet."""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.util
import json
import re
import threading
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from test_download import tar_gz_bytes, zip_bytes

from glmeval import preflight as preflight_module
from glmeval.cli import main
from glmeval.config import downloads_needed, load_config
from glmeval.download import OFFLINE_ENV, download
from glmeval.preflight import hub_models, preflight

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "config.yaml"
SCHEMA = REPO / "config" / "schema.yaml"
GB = 10**9


def nt_listing(weights: int) -> dict[str, int]:
    """A Nucleotide Transformer v1 repository's files as the hub lists them (sizes in bytes)."""
    return {
        ".gitattributes": 1_500,
        "README.md": 6_000,
        "config.json": 800,
        "pytorch_model.bin": weights,
        "tf_model.h5": weights,
        "jax_model/pytree_ckpt.joblib": int(9.49 * GB),
        "special_tokens_map.json": 100,
        "tokenizer_config.json": 200,
        "vocab.txt": 30_000,
    }


LISTINGS = {
    "InstaDeepAI/nucleotide-transformer-2.5b-1000g": nt_listing(10 * GB),
    "InstaDeepAI/nucleotide-transformer-2.5b-multi-species": nt_listing(10 * GB),
    "InstaDeepAI/nucleotide-transformer-500m-human-ref": nt_listing(2 * GB),
    "InstaDeepAI/nucleotide-transformer-500m-1000g": nt_listing(2 * GB),
    "LongSafari/hyenadna-tiny-1k-seqlen-d256-hf": {
        "config.json": 900,
        "configuration_hyena.py": 3_000,
        "modeling_hyena.py": 30_000,
        "tokenization_hyena.py": 6_000,
        "tokenizer_config.json": 500,
        "special_tokens_map.json": 100,
        "model.safetensors": 6_500_000,
        "pytorch_model.bin": 6_600_000,
    },
    "zhihan1996/DNABERT-2-117M": {
        "config.json": 900,
        "configuration_bert.py": 1_000,
        "bert_layers.py": 40_000,
        "bert_padding.py": 6_000,
        "flash_attn_triton.py": 42_000,
        "pytorch_model.bin": 468_000_000,
        "tokenizer.json": 170_000,
        "tokenizer_config.json": 200,
    },
}


@dataclass
class Site:
    """What the loopback servers hold: Zenodo records, hub repositories, plain files."""

    base: str = ""
    records: dict[int, dict[str, bytes]] = field(default_factory=dict)
    repos: dict[str, tuple[set[str], dict[str, int]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        site: Site = self.server.site
        path = unquote(urlparse(self.path).path)
        site.requests.append(path)
        record = re.fullmatch(r"/zenodo/api/records/(\d+)", path)
        model = re.fullmatch(r"/hub/api/models/(.+?)/revision/(.+)", path)
        if record and int(record.group(1)) in site.records:
            files = site.records[int(record.group(1))]
            entries = [
                {
                    "key": name,
                    "size": len(data),
                    "checksum": f"md5:{hashlib.md5(data).hexdigest()}",
                    "links": {"self": f"{site.base}/zenodo/files/{record.group(1)}/{name}"},
                }
                for name, data in files.items()
            ]
            return self._send(200, json.dumps({"files": entries}).encode(), head)
        if path.startswith("/zenodo/files/"):
            rid, name = path.split("/")[3:5]
            return self._send(200, site.records[int(rid)][name], head)
        if model:
            repo, revision = model.groups()
            if repo not in site.repos:
                return self._send(404, b"{}", head, {"X-Error-Code": "RepoNotFound"})
            revisions, listing = site.repos[repo]
            if revision not in revisions:
                return self._send(404, b"{}", head, {"X-Error-Code": "RevisionNotFound"})
            info = {
                "id": repo,
                "sha": revision if len(revision) == 40 else "f" * 40,
                "siblings": [{"rfilename": n, "size": s} for n, s in listing.items()],
            }
            return self._send(200, json.dumps(info).encode(), head)
        if path in site.files:
            return self._send(200, site.files[path], head)
        return self._send(404, b"not found", head)

    def _send(self, status, body, head, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


@pytest.fixture
def site(monkeypatch) -> Iterator[Site]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.site = Site(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    yield httpd.site
    httpd.shutdown()
    httpd.server_close()


def serve_paper_config(site: Site) -> dict:
    """The paper configuration with its URLs moved to the loopback server, which holds every
    record file, URL, checksum list and hub repository it names."""
    config = load_config(PAPER, SCHEMA)
    site.records = {
        11583224: {
            "data.zip": zip_bytes({"data/x": b"x"}),
            "model.zip": zip_bytes({"model/y": b"y"}),
        },
        4906997: {"sei_model.tar.gz": tar_gz_bytes({"model/sei.pth": b"w"}), "README": b"r"},
    }
    for name, spec in config["downloads"].items():
        if "url" in spec:
            for key in ("url", "checksum_file"):
                if key in spec:
                    spec[key] = site.base + urlparse(spec[key]).path
            data = f">{name}\nACGT\n".encode()
            data = gzip.compress(data) if spec["url"].endswith(".gz") else data
            site.files[urlparse(spec["url"]).path] = data
            if "checksum_file" in spec:
                listing = f"{hashlib.md5(data).hexdigest()}  {Path(spec['url']).name}\n"
                site.files[urlparse(spec["checksum_file"]).path] = listing.encode()
    for name in hub_models(config):
        source = config["models"][name]["source"]
        site.repos[source["hub"]] = ({source["revision"]}, LISTINGS[source["hub"]])
    return config


def test_the_paper_configuration_passes_and_every_download_spec_downloads(site, tmp_path):
    config = serve_paper_config(site)
    checked = preflight(
        config, tmp_path, f"{site.base}/zenodo/api", f"{site.base}/hub", profile=None
    )
    missing = {
        m
        for m in ("mamba_ssm", "gpn", "enformer_pytorch", "borzoi_pytorch")
        if importlib.util.find_spec(m) is None
    }
    assert all(any(m in p for m in missing) for p in checked.problems), checked.report()
    report = checked.report()
    # the NT repositories: PyTorch weights only, no JAX or TensorFlow copy
    assert "model nt_2b5_1000g: InstaDeepAI/nucleotide-transformer-2.5b-1000g@" in report
    assert re.search(r"model nt_2b5_1000g: .*, 5 files, 10\.00 GB to fetch \(19\.49 GB", report)
    assert "download paper_archive: data.zip" in report and "download hg19: hg19.fa.gz" in report
    assert "not verifiable" in report.split("download jaspar")[1].splitlines()[0]
    assert checked.fetch_bytes > 24 * GB
    # the paper's every download spec goes through the downloader as it is configured
    for name in downloads_needed(config):
        download(config["downloads"][name], tmp_path / "dl" / name, api=f"{site.base}/zenodo/api")
        assert json.loads((tmp_path / "dl" / name / "download.json").read_text())["spec"]
    # once everything is there, nothing is asked of the servers
    site.requests.clear()
    (tmp_path / "resources").mkdir()
    (tmp_path / "dl").rename(tmp_path / "resources" / "downloads")
    for name in hub_models(config):
        (tmp_path / "resources" / "models" / name).mkdir(parents=True)
        (tmp_path / "resources" / "models" / name / "glmeval_source.json").write_text("{}")
    offline = preflight({**config, "offline": True}, tmp_path, "http://0.0.0.0:9", profile=None)
    assert not [p for p in offline.problems if "offline" in p] and site.requests == []


Usage = namedtuple("Usage", "total used free")


def test_each_failure_is_one_line_with_its_key_and_fix(site, tmp_path, monkeypatch):
    config = serve_paper_config(site)
    config = copy.deepcopy(config)
    del site.records[11583224]["model.zip"]  # the record lacks a named file
    nt = config["models"]["nt_500m_human"]["source"]
    site.repos[nt["hub"]] = ({"0" * 40}, LISTINGS[nt["hub"]])  # the pinned commit is not there
    config["models"]["hyenadna"]["source"]["hub"] = "LongSafari/no-such-repo"
    config["models"]["dnabert2"]["family"] = "caduceus"  # a family whose package is missing
    monkeypatch.setattr(
        preflight_module.importlib.util, "find_spec", lambda m: None if m == "mamba_ssm" else 1
    )
    monkeypatch.setattr(preflight_module.shutil, "disk_usage", lambda p: Usage(GB, GB, GB // 2))
    profile = tmp_path / "profile.yaml"
    profile.write_text("set-resources:\n  extract_embeddings: {gpu: 1}\n")
    checked = preflight(
        config, tmp_path, f"{site.base}/zenodo/api", f"{site.base}/hub", profile=profile
    )
    problems = "\n".join(checked.problems)
    assert re.search(
        r"downloads\.paper_models: .*no file matching 'model\.zip' or '\*model\*'.*"
        r"It has:\n  data\.zip",
        problems,
        re.DOTALL,
    )
    assert (
        f"models.nt_500m_human.source: InstaDeepAI/nucleotide-transformer-500m-human-ref@"
        f"{nt['revision']}: the repository has no revision '{nt['revision']}'" in problems
    )
    assert "models.hyenadna.source: LongSafari/no-such-repo@" in problems
    assert "needs the Python package 'mamba_ssm'" in problems and "glmeval[caduceus]" in problems
    assert "requests none for zeroshot_scores: give it gpu: 1" in problems
    assert re.search(r"disk: the run needs about \d+\.\d\d GB but .* has 0\.50 GB free", problems)
    assert "Fix models.hyenadna.source.hub" in problems
    # the package and the GPU also for dnabert2_random, which inherits the family
    assert len(checked.problems) == 8, problems
    # offline: what is not under resources/ is named, and nothing is asked of the network
    site.requests.clear()
    offline = preflight({**config, "offline": True}, tmp_path, profile=None)
    assert any(
        p.startswith("downloads.hg19: offline is true but resources/downloads/hg19")
        for p in offline.problems
    )
    assert any(p.startswith("models.nt_2b5_1000g: offline is true") for p in offline.problems)
    assert site.requests == []
    # GPUs too small for a model's weights (2.5e9 parameters in bf16: 5 GB)
    small = preflight({**config, "offline": True}, tmp_path, profile=None, gpu_memory_gb=4)
    too_big = [p for p in small.problems if "of a 4 GB GPU" in p]
    assert [p.split(":")[0] for p in too_big] == ["models.nt_2b5_1000g", "models.nt_2b5_species"]
    assert "its weights alone take 5.00 GB in bf16" in too_big[0]


def test_the_command_exits_non_zero_on_a_problem(tmp_path, capsys):
    config = {
        "offline": True,
        "downloads": {"d": {"url": "https://example.org/x.csv", "sha256": "0" * 64}},
        "tasks": {
            "t": {
                "kind": "regression",
                "source": {"table": {"download": "d", "path": "x.csv"}},
                "targets": ["y"],
                "models": ["onehot"],
                "probes": ["ridge"],
            }
        },
        "models": {"onehot": {"family": "onehot"}},
        "probes": {"ridge": {"type": "ridge"}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["preflight", str(tmp_path / "config.yaml"), "--schema", str(SCHEMA)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM downloads.d: offline is true but resources/downloads/d is not there" in out
