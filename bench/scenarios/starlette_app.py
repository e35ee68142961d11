"""uvicorn + Starlette side of the benchmark scenarios (one app per scenario).

    python starlette_app.py SCENARIO PORT [WORKERS]

SCENARIO is one of ``hello``, ``routing``, ``form``, ``large``, ``cpu``; every app also answers
``GET /plaintext`` (the readiness probe). uvicorn runs with uvloop + httptools, access log off;
WORKERS > 1 uses ``uvicorn --workers`` (its workers import this module, so the scenario travels
in ``BENCH_SCENARIO``). Keep-alive idle timeout is raised to 600 s so that the memory scenario's
idle connections stay open (uvicorn's default closes them after 5 s). Forms need
``python-multipart``.
"""

from __future__ import annotations

import os
import sys

import common
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def static(request: Request) -> Response:
    return PlainTextResponse("static")


async def param(request: Request) -> Response:
    p = request.path_params
    return PlainTextResponse(f"{p['num']}:{p['name']}")


async def form(request: Request) -> Response:
    data = await request.form()
    return PlainTextResponse(str(data[common.FORM_FIELD]))


async def upload(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def large(request: Request) -> Response:
    body = common.BODIES[request.path_params["size"]]
    return Response(body, media_type="application/octet-stream")


async def cpu(request: Request) -> Response:
    # An async endpoint: the CPU work runs on the event loop, as in squall's and Tornado's
    # sync handlers (a sync Starlette endpoint would go through a thread pool).
    return PlainTextResponse(str(common.burn()))


def routes(scenario: str) -> list[Route]:
    """The route table of one scenario; ``/plaintext`` is always present."""
    table: list[Route] = []
    if scenario == "hello":
        table.append(Route("/json", json_))
    elif scenario == "routing":
        for i in range(common.N_ROUTES // 2):
            table.append(Route(f"/s{i}", static))
            table.append(Route(f"/p{i}/{{num:int}}/{{name}}", param))
    elif scenario == "form":
        table += [
            Route("/form", form, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
        ]
    elif scenario == "large":
        # /n/ (no ETag) is the same as /b/ here: Starlette never computes an ETag.
        table += [Route("/b/{size}", large), Route("/n/{size}", large)]
    elif scenario == "cpu":
        table.append(Route("/cpu", cpu))
    return [*table, Route("/plaintext", plaintext)]


app = Starlette(routes=routes(os.environ.get("BENCH_SCENARIO", "hello")))


def main() -> None:
    import uvicorn

    scenario, port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.environ["BENCH_SCENARIO"] = scenario
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"uvicorn {scenario} pid={os.getpid()} ready", flush=True)
    uvicorn.run(
        "starlette_app:app",
        host="127.0.0.1",
        port=port,
        workers=workers,
        app_dir=here,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=600,
    )


if __name__ == "__main__":
    main()
