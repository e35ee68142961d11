"""A small squall application: a handler, a route with arguments, JSON, and a static folder.

    pip install -e . && python examples/hello.py --port=8001

Then try:
    curl http://127.0.0.1:8001/
    curl http://127.0.0.1:8001/hello/world
    curl http://127.0.0.1:8001/api/items/42
    curl http://127.0.0.1:8001/static/hello.txt
"""

from __future__ import annotations

import os

from squall.ioloop import IOLoop
from squall.options import define, options, parse_command_line
from squall.web import Application, HTTPError, RequestHandler

define("port", default=8001, help="port to listen on", type=int)
define("address", default="127.0.0.1", help="address to listen on")

ITEMS = {42: {"id": 42, "name": "the answer"}}


class MainHandler(RequestHandler):
    def get(self) -> None:
        self.write("Hello from squall! Try /hello/<name>, /api/items/42, /static/hello.txt\n")


class HelloHandler(RequestHandler):
    def get(self, name: str) -> None:
        greeting = self.get_argument("greeting", "Hello")
        self.write(f"{greeting}, {name}!\n")


class ItemHandler(RequestHandler):
    def get(self, item_id: str) -> None:
        item = ITEMS.get(int(item_id))
        if item is None:
            raise HTTPError(404, "no item %s", item_id)
        self.write(item)  # a dict is sent as JSON


def make_app() -> Application:
    return Application(
        [
            (r"/", MainHandler),
            (r"/hello/([^/]+)", HelloHandler),
            (r"/api/items/([0-9]+)", ItemHandler),
        ],
        static_path=os.path.join(os.path.dirname(__file__), "static"),
    )


def main() -> None:
    parse_command_line()
    app = make_app()
    app.listen(options.port, options.address)
    print(f"squall listening on http://{options.address}:{options.port}/")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
