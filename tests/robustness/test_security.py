"""What a configuration cannot make glmeval do: run a repository's code at a moving revision,
download over plain HTTP or follow a redirect to it, or reach a shell. (Archive members that
would escape their directory: tests/test_download.py::test_unpack_refuses_members_escaping_the_target.)"""

import ast
import http.server
import re
import threading
from pathlib import Path

import pytest
import yaml

from glmeval.config import ConfigError, validate_config
from glmeval.download import DownloadError, download

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"


def _config(model: dict) -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["remote"] = model
    config["tasks"]["motif_activity"]["models"].append("remote")
    return config


@pytest.mark.parametrize(
    "model, message",
    [
        (  # a family whose code is a package glmeval imports never runs a repository's own
            {"family": "gpn", "source": {"hub": "org/gpn", "revision": "0" * 40},
             "n_layers": 2, "remote_code": True},
            "family gpn never runs remote code",
        ),
        (  # an optional one (masked LMs) runs it only at a commit
            {"family": "masked_lm", "source": {"hub": "org/m", "revision": "v1.0"},
             "n_layers": 2, "remote_code": True},
            "pinned revision",
        ),
        (  # a family that needs its repository's code runs it only at a commit, not a branch
            {"family": "dnabert2", "source": {"hub": "zhihan1996/DNABERT-2-117M", "revision": "main"},
             "n_layers": 12},
            "pinned revision",
        ),
    ],
)
def test_remote_code_runs_only_where_needed_and_only_at_a_commit(model, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(model), SCHEMA)


def test_remote_code_at_a_commit_is_accepted():
    model = {"family": "dnabert2", "n_layers": 12,
             "source": {"hub": "zhihan1996/DNABERT-2-117M", "revision": "d064dece8a8b41d9fb8729fbe3435278786931f1"}}
    validate_config(_config(model), SCHEMA)


def test_plain_http_is_refused_before_any_connection(tmp_path):
    with pytest.raises(DownloadError, match="HTTPS only"):
        download({"url": "http://example.invalid/data.csv"}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_redirect_to_plain_http_is_not_followed(tmp_path):
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/data.csv")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DownloadError, match="refusing http://example.invalid/data.csv"):
            download({"url": f"http://127.0.0.1:{server.server_port}/data.csv"}, tmp_path / "out")
    finally:
        server.shutdown()
    assert not (tmp_path / "out").exists()


def test_no_shell_is_built_from_configuration():
    """Rules run Python scripts (no `shell:` or `run:` directives); library code starts
    processes only with argument lists, never through a shell."""
    for rules in (REPO / "workflow").rglob("*.smk"):
        assert not re.search(r"^\s+(shell|run):", rules.read_text(), re.MULTILINE), rules
    for source in [*(REPO / "src").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                assert name not in ("os.system", "os.popen", "subprocess.getoutput"), (source, name)
                shell = [k for k in node.keywords if k.arg == "shell"]
                assert not shell or ast.unparse(shell[0].value) == "False", (source, name)
