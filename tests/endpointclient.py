"""A client for the endpoints of `enictl watch --listen`, for the suites that read them:
an HTTP GET that returns the status whatever it is, and the Prometheus text parsed by
prometheus_client's own parser into samples to look up by name and labels."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 10.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def get(url: str, *, method: str = "GET", accept: str = "") -> Answer:
    """One request to 127.0.0.1; a 4xx or 5xx is an answer like any other."""
    request = urllib.request.Request(url, method=method)
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return Answer(response.status, _headers(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, _headers(exc.headers), exc.read().decode())


def _headers(headers: object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    return {str(k).lower(): str(v) for k, v in items}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels}` (0 when the exposition does not have it)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(base: str, name: str, **labels: str) -> float:
    """`value(...)` of a fresh scrape of `base`/metrics."""
    return value(get(f"{base}/metrics").body, name, **labels)
