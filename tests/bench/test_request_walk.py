"""The walk of one request through the code (bench/request_walk.py) is traced for real:
it sees the hot route, the service and the log's writer, and holds the route's walk to
the files it has today, so a change that spreads the route over more files is seen."""

from __future__ import annotations

from bench.request_walk import walks

# 25, and features/estimates.py since the utility prices a late call from the live
# latency estimate (its chance of passing the deadline), and selector/prompt_caches.py
# since a turn's cost prices the prefix cached on the model that served the one before;
# 27, and features/difficulty.py, embeddings.py and text.py since the prior reads how
# hard the request's text is
ROUTE_FILES_AT_MOST = 30


def test_the_walks_of_a_route_and_a_feedback_event() -> None:
    route, feedback = walks()
    for walk in (route, feedback):
        assert {"selector/api/hot.py", "selector/service.py", "selector/store/writer.py"} <= set(
            walk.files
        )
        assert walk.order[0] == "selector/api/app.py"  # the edge sees every request first
    assert "selector/online/contextual.py" in route.files  # the default policy decided
    assert len(route.files) <= ROUTE_FILES_AT_MOST, route.files
    assert len(feedback.files) < len(route.files)
