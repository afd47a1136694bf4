"""Metrics the store layer reports, for ``/metrics`` (prometheus-client; the API exposes
them with its own, :mod:`api.metrics`).

The replica lag is the store layer's to measure (it knows its read replicas); the API only
shows it. In ``jzmap serve``'s multiprocess mode each worker reports what it last measured,
and the scrape shows the most recent report of any worker.
"""

from __future__ import annotations

import math

from prometheus_client import Gauge

REPLICA_LAG = Gauge(
    "jzmap_replica_lag_seconds",
    "How far each PostgreSQL read replica is behind the primary (replay lag, seconds); "
    "+Inf for a replica that is down, NaN when it could not be measured",
    ["replica"],
    multiprocess_mode="mostrecent",
)


def observe_replica_lag(replica: str, lag_s: float | None) -> None:
    """Report the lag of ``replica`` (``None``: not measurable, e.g. down).

    Parameters
    ----------
    replica
        A short fixed name of the replica, such as ``host:port`` — never its URL (a URL may
        carry a password) and never anything that changes per query.
    lag_s
        Seconds behind the primary (``inf``: down).
    """
    REPLICA_LAG.labels(replica).set(math.nan if lag_s is None else max(lag_s, 0.0))
