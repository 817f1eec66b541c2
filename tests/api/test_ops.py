"""Operations endpoints: metrics in Prometheus text, the served OpenAPI document."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path

import httpx

import tidings

SEED = Path(tidings.__file__).parent / "openapi" / "seed.json"


def _get(server, path: str) -> httpx.Response:
    return httpx.get(server.url + path, verify=ssl.create_default_context(cafile=server.ca_path))


def test_metrics_count_requests_latencies_and_rejections(api, server):
    api.track("PUT", "/api/v1/customers/m1", json={"a": 1})
    api.track("POST", "/api/v1/customers/m1/events", json={"name": ""})
    text = _get(server, "/metrics").text
    assert re.search(
        r'tidings_requests_total\{surface="track",route="/api/v1/customers/\{identifier\}",'
        r'status="200"\} [1-9]',
        text,
    )
    assert re.search(r'tidings_rejections_total\{surface="track",reason="invalid"\} [1-9]', text)
    assert re.search(r'tidings_request_seconds_count\{surface="track"\} [1-9]', text)
    assert "tidings_pending_writes" in text
    for gauge in (
        "segment_people_pending",
        "segment_builds_pending",
        "jobs_due",
        "jobs_lag_seconds",
        "deliveries_due",
        "deliveries_sending",
        "deliveries_lag_seconds",
        "webhook_posts_due",
        "webhook_posts_lag_seconds",
        "journeys_due",
        "journeys_lag_seconds",
    ):
        assert re.search(rf"^tidings_{gauge} \d", text, re.M), gauge


def test_readyz_shows_the_workers_backlog(server):
    shown = _get(server, "/readyz").json()
    assert shown["status"] == "ready"
    assert {"pending_writes", "deliveries_due", "deliveries_lag_seconds", "jobs_due"} <= set(shown)


def test_openapi_lists_every_served_route_with_seed_descriptions(api, server):
    served = _get(server, "/openapi.json").json()
    paths = served["paths"]
    identify = paths["/api/v1/customers/{identifier}"]["put"]
    assert identify["operationId"] == "identifyCustomer"  # described by the seed
    assert "post" in paths["/api/v1/merge_customers"]  # served beyond the seed
    assert "/healthz" in paths
    assert served["components"]["securitySchemes"]["basicAuth"]["scheme"] == "basic"


def test_seed_operations_served_so_far_keep_their_ids(server):
    seed = json.loads(SEED.read_text())
    served = _get(server, "/openapi.json").json()["paths"]
    for path, operations in served.items():
        for method, operation in operations.items():
            seeded = seed["paths"].get(path, {}).get(method)
            if seeded is not None:
                assert operation["operationId"] == seeded["operationId"]
