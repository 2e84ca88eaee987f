"""How long `glmeval preflight` of the paper configuration takes against loopback servers that
answer as Zenodo's API, the Hugging Face hub's model API and UCSC's file server do (the test
suite's, tests/test_preflight.py), and what it reports the run will fetch.

    python benchmarks/preflight_time.py [--repeats 5]

Prints the median and each run's seconds, the bytes to fetch and the problems found; no
assertion. A real login node adds one round trip per download and hub model (14 requests).
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_preflight import Handler, Site, serve_paper_config

from glmeval.preflight import preflight


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.site = Site(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True).start()
    config = serve_paper_config(httpd.site)
    seconds = []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = preflight(
                config, root, f"{httpd.site.base}/zenodo/api", f"{httpd.site.base}/hub"
            )
            seconds.append(time.perf_counter() - start)
    httpd.shutdown()
    print(
        f"preflight of config/config.yaml: median {statistics.median(seconds):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in seconds)})"
    )
    print(f"to fetch: {result.fetch_bytes / 1e9:.2f} GB; problems: {len(result.problems)}")
    for problem in result.problems:
        print(f"  {problem}")


if __name__ == "__main__":
    main()
