# The two commands of the README, and the benchmark.
.PHONY: demo test bench bench-ingest bench-map

demo:  ## install, build the demo city on the embedded store, serve it
	scripts/demo

test:  ## the whole suite: ruff, mypy, pytest (PostGIS included; a throwaway cluster if no DATABASE_URL)
	scripts/test

bench:  ## nearest-match latency at 10k and 1M providers, with references measured in the same run
	scripts/bench

bench-ingest:  ## import throughput: a 1M-row GBK CSV into both stores
	scripts/bench-ingest

bench-map:  ## map page weight (HTML + JS + first data) at 1k and 1M providers
	scripts/bench-map
