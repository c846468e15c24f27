"""Benchmarks of tsad: speed, API economy, memory and start-up against same-run baselines."""
