"""The route table as data: every operation declared once, each surface's routes
where its module says, and the defaults a `Route` leaves to its surface."""

from tidings.api import pipelines, send
from tidings.api.routing import Route, Router
from tidings.app import ROUTES
from tidings.sending.request import CHANNELS


def test_each_method_and_path_is_declared_once():
    declared = [(route.method, route.path) for route in ROUTES]
    assert len(declared) == len(set(declared))


def test_the_pipelines_and_send_tables_cover_their_paths():
    assert {route.path for route in pipelines.ROUTES if route.surface == "cdp"} == pipelines.PATHS
    sends = [route.path for route in send.ROUTES if route.method == "POST"]
    assert sends == [f"/v1/send/{name}" for name in CHANNELS]


async def _handler(ctx, request):  # never called
    raise AssertionError


def test_a_route_takes_its_surfaces_credentials_unless_it_names_others():
    router = Router(
        [
            Route("GET", "/a", _handler, "track_v2"),
            Route("GET", "/b", _handler, "ops"),
            Route("GET", "/c", _handler, "app", "none", query=None),
            Route("GET", "/d/{id}", _handler, "cdp", query=["x"]),
        ]
    )
    assert [e.auth for e in router.endpoints] == ["track", "none", "none", "cdp"]
    assert [e.query for e in router.endpoints] == [frozenset(), frozenset(), None, {"x"}]
    assert router.endpoints[3].placeholders == ((1, "id"),)


def test_the_first_declared_route_wins_and_another_method_is_known():
    first, second = Route("GET", "/v/{id}", _handler, "app"), Route("GET", "/v/x", _handler, "app")
    router = Router([first, second])
    endpoint, params, known = router.match("GET", ["v", "x"])
    assert endpoint is router.endpoints[0] and params == {"id": "x"} and known
    assert router.match("POST", ["v", "x"]) == (None, {}, True)
    assert router.match("GET", ["w", "x"]) == (None, {}, False)
