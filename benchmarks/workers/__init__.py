"""Workers: each measurement in a fresh process, `python -m benchmarks.workers.<name>`; the last
stdout line is JSON. benchmarks/sections/ runs them."""
