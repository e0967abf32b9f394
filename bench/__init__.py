"""Benchmarks of the twin against its peers; each writes bench/results/<name>.json."""
