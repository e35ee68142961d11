"""Hello-world benchmark through the full framework: Application + RequestHandler.

    python bench/web_hello.py PORT

Routing, a handler object per request, default headers, automatic ETag and Content-Length;
the access log is off, as for every peer in the comparison.
"""

from __future__ import annotations

import logging
import sys

from squall.ioloop import IOLoop
from squall.web import Application, RequestHandler


class PlaintextHandler(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(b"Hello, World!")


class JsonHandler(RequestHandler):
    def get(self) -> None:
        self.write({"message": "Hello, World!"})


def make_app() -> Application:
    """The benchmark's application (also served by ``squall serve web_hello:make_app()``)."""
    return Application([("/plaintext", PlaintextHandler), ("/json", JsonHandler)])


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
    logging.getLogger("squall.access").setLevel(logging.WARNING)
    app = make_app()
    app.listen(port, "127.0.0.1")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
