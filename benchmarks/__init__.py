"""Scripts that print throughput and memory figures against same-run baselines."""
