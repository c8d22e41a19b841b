"""Benchmarks: run ``.venv/bin/python bench/members.py --help`` (see bench/README.md)."""
