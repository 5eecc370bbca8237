"""Request counts and latencies, exported as Prometheus text like TF Serving's `/monitoring/prometheus/metrics`.

Metric names follow TF Serving's (`:tensorflow:serving:request_count`, `:tensorflow:serving:request_latency`,
microseconds), plus the server process's resident memory.

Example:

>>> metrics = Metrics()
>>> metrics.record("dates", "predict", "REST", "OK", 1500.0)
>>> 'request_count{model_name="dates",status="OK"} 1' in metrics.prometheus_text()
True
"""

from __future__ import annotations

import bisect
import collections
import os
import threading

# TF Serving's request latency buckets: exponential, 10 us * 1.8^i.
BUCKETS = [10 * 1.8**i for i in range(33)]


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def resident_memory_bytes() -> int:
    """The process's resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Metrics:
    """Thread-safe counters and histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter = collections.Counter()
        self._latency: dict[tuple, list] = {}

    def record(self, model: str, api: str, entrypoint: str, status: str, micros: float) -> None:
        """One finished request: its status name ('OK', 'INVALID_ARGUMENT', ...) and latency (microseconds)."""
        with self._lock:
            self._counts[(model, status)] += 1
            if status == "OK":
                key = (model, api, entrypoint)
                hist = self._latency.setdefault(key, [[0] * (len(BUCKETS) + 1), 0.0, 0])
                hist[0][bisect.bisect_left(BUCKETS, micros)] += 1
                hist[1] += micros
                hist[2] += 1

    def prometheus_text(self) -> str:
        lines = ["# TYPE :tensorflow:serving:request_count counter"]
        with self._lock:
            for (model, status), count in sorted(self._counts.items()):
                lines.append(f":tensorflow:serving:request_count{_labels(model_name=model, status=status)} {count}")
            lines.append("# TYPE :tensorflow:serving:request_latency histogram")
            for (model, api, entry), (buckets, total, count) in sorted(self._latency.items()):
                cumulative = 0
                for bound, n in zip(BUCKETS + [float("inf")], buckets):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(":tensorflow:serving:request_latency_bucket"
                                 f"{_labels(model_name=model, API=api, entrypoint=entry, le=le)} {cumulative}")
                base = _labels(model_name=model, API=api, entrypoint=entry)
                lines.append(f":tensorflow:serving:request_latency_sum{base} {total:.0f}")
                lines.append(f":tensorflow:serving:request_latency_count{base} {count}")
        lines.append("# TYPE process_resident_memory_bytes gauge")
        lines.append(f"process_resident_memory_bytes {resident_memory_bytes()}")
        return "\n".join(lines) + "\n"
