"""The `glmeval` command."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from glmeval.config import ConfigError, load_config, probe_jobs


def check(config_path: str, schema_path: str | None) -> int:
    """Validate a configuration and print what it asks for; 1 if it is invalid."""
    schema = Path(schema_path) if schema_path else Path(config_path).parent / "schema.yaml"
    try:
        config = load_config(config_path, schema)
    except ConfigError as error:
        print(f"{config_path}: {error}", file=sys.stderr)
        return 1
    jobs = probe_jobs(config)
    print(f"{config_path}: valid")
    print(f"  tasks: {len(config['tasks'])}, models: {len(config['models'])}, probe jobs: {len(jobs)}")
    for (task, model), n in sorted(Counter((j.task, j.model) for j in jobs).items()):
        print(f"  {task} × {model}: {n} probe jobs")
    return 0


def zenodo(record: str) -> int:
    """List a Zenodo record's files with their sizes and checksums (for `downloads:`)."""
    from glmeval.download import DownloadError, zenodo_files

    try:
        files = zenodo_files(record)
    except DownloadError as error:
        print(error, file=sys.stderr)
        return 1
    for name, remote in sorted(files.items()):
        print(f"{name}\t{remote.size}\t{remote.checksum}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glmeval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="validate a configuration, summarise its jobs")
    check_parser.add_argument("config")
    check_parser.add_argument("--schema", help="default: schema.yaml beside the configuration")
    zenodo_parser = commands.add_parser("zenodo", help="list a Zenodo record's files")
    zenodo_parser.add_argument("record")
    args = parser.parse_args(argv)
    if args.command == "zenodo":
        return zenodo(args.record)
    return check(args.config, args.schema)


if __name__ == "__main__":
    sys.exit(main())
