"""Customer.io routes this server does not serve yet: a 501 naming the feature.

A client calling one of these gets "campaigns are not implemented in Tidings
yet" rather than a bare 404 that reads like a wrong URL. The table comes from
the seed OpenAPI document and the official Node `APIClient` (customerio-node
`lib/api.ts`). A pattern matches segment by segment; `{name}` matches any one
segment, and a final `...` any number more. The first row that matches wins,
so narrower features come first. Served routes are matched before this table
is consulted, so it never hides one.
"""

from __future__ import annotations

from tidings.errors import ApiError

# (what is missing, as the subject of "... not implemented in Tidings yet"; patterns)
UNBUILT: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "subscription preferences are",
        (
            "/v1/customers/{id}/subscription_preferences",
            "/v1/subscription_center/...",
            "/v1/subscription_channels/...",
            "/v1/subscription_topics/...",
        ),
    ),
)

_PARSED = tuple(
    (subject, tuple(tuple(pattern.split("/")[1:]) for pattern in patterns))
    for subject, patterns in UNBUILT
)


def feature_of(segments: list[str]) -> str | None:
    """The missing feature a request path (split on `/`, raw) belongs to, if any."""
    for subject, patterns in _PARSED:
        if any(_matches(pattern, segments) for pattern in patterns):
            return subject
    return None


def not_implemented(subject: str) -> ApiError:
    return ApiError(501, f"{subject} not implemented in Tidings yet", code="not_implemented")


def _matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    if pattern[-1] == "...":
        pattern = pattern[:-1]
        if len(segments) < len(pattern):
            return False
        segments = segments[: len(pattern)]
    if len(segments) != len(pattern):
        return False
    return all(p == s or (p.startswith("{") and s) for p, s in zip(pattern, segments, strict=True))
