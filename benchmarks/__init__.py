"""Side-by-side benchmarks: `python -m benchmarks` (or `make bench`) writes benchmarks/RESULTS.md."""
