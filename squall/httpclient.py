"""An HTTP client with Tornado's ``tornado.httpclient`` interface.

    from squall.httpclient import AsyncHTTPClient

    async def main():
        response = await AsyncHTTPClient().fetch("http://example.com/")
        print(response.code, response.body)

``AsyncHTTPClient()`` is the IOLoop's shared client, by default a
``squall.simple_httpclient.SimpleAsyncHTTPClient`` (squall's own HTTP/1.1 client on
``squall.iostream``, with keep-alive); ``AsyncHTTPClient.configure`` picks another class or
other defaults. ``HTTPClient`` is a blocking client for scripts. A non-2xx status raises
:class:`HTTPClientError` carrying the response (``raise_error=False`` returns it instead);
a timeout raises ``HTTPTimeoutError``, a closed connection or a malformed answer
``HTTPStreamClosedError`` (both ``HTTPClientError`` with code 599), a network error its
``OSError`` (``ConnectionRefusedError``, ``socket.gaierror``...), as Tornado's client does.

``python -m squall.httpclient URL...`` fetches URLs and prints their bodies (``--help``).
"""

from __future__ import annotations

import argparse
import sys

from squall._client import simple as _simple  # noqa: F401  (registers the default client)
from squall._client.base import AsyncHTTPClient, HTTPClient
from squall._client.messages import (
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
)

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
    "_RequestProxy",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Fetch each URL given on the command line and print what ``--print-*`` asks for.

    Returns the exit status: 0, or 1 if a fetch failed (the error goes to stderr)."""
    parser = argparse.ArgumentParser(
        prog="python -m squall.httpclient", description="Fetch URLs with squall's HTTP client."
    )
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--print-headers", action="store_true", help="print the response head")
    parser.add_argument("--no-body", action="store_true", help="do not print the body")
    parser.add_argument("--no-follow-redirects", action="store_true", help="stop at a 3xx")
    parser.add_argument(
        "--no-validate-cert", action="store_true", help="accept any TLS certificate"
    )
    args = parser.parse_args(argv)
    client = HTTPClient()
    status = 0
    try:
        for url in args.urls:
            try:
                response = client.fetch(
                    url,
                    follow_redirects=not args.no_follow_redirects,
                    validate_cert=not args.no_validate_cert,
                    raise_error=False,
                )
            except Exception as exc:
                print(f"{url}: {exc}", file=sys.stderr)
                status = 1
                continue
            if args.print_headers:
                print(f"HTTP {response.code} {response.reason}")
                print(response.headers)
            if not args.no_body:
                sys.stdout.buffer.write(response.body)
                sys.stdout.flush()
    finally:
        client.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
