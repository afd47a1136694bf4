# The two commands of the README, and the benchmark.
.PHONY: demo test bench bench-ingest bench-map bench-load bench-guard bench-ogc bench-tiles bench-network

demo:  ## install, build the demo city on the embedded store, serve it
	scripts/demo

test:  ## the whole suite: ruff, mypy, lint-imports, mkdocs --strict, pytest (PostGIS included; a throwaway cluster if no DATABASE_URL)
	scripts/test

bench:  ## nearest-match latency at 10k and 1M providers, with references measured in the same run
	scripts/bench

bench-ingest:  ## import throughput: a 1M-row GBK CSV into both stores
	scripts/bench-ingest

bench-map:  ## map page weight (HTML + JS + first data) at 1k and 1M providers
	scripts/bench-map

bench-load:  ## nearest-match throughput and p50/p99 at 1, 8, 32 clients next to a no-op endpoint (wrk)
	scripts/bench-load

bench-guard:  ## hostile requests: refusing 100 MB bodies (time, peak memory), slowest public GETs
	scripts/bench-guard

bench-ogc:  ## a 1,000-feature OGC API /items page at 1M providers, next to nearest-match
	scripts/bench-ogc

bench-tiles:  ## vector tiles (city zoom, cells, points, 304) at 1M providers as ratios to nearest-match
	scripts/bench-tiles

bench-network:  ## walking coverage at H3 r9 on a ~300k-node street grid, next to crow-fly
	scripts/bench-network
