"""A concurrent web spider: workers share a queue of URLs and fetch with AsyncHTTPClient.

    python examples/web_spider/spider.py                  # crawls a small site it serves itself
    python examples/web_spider/spider.py --url=http://127.0.0.1:8888/

Without ``--url`` the spider first starts a local squall site (a few linked pages, one broken
link, one link off the site) on a free port, so it runs offline. It follows the links that stay
under the start URL, ``--concurrency`` fetches at a time, and prints every page it fetched and
every one it could not.
"""

from __future__ import annotations

import time
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

from squall import gen, httpclient, queues
from squall.ioloop import IOLoop
from squall.options import define, options, parse_command_line
from squall.testing import bind_unused_port
from squall.web import Application, HTTPError, RequestHandler

define("url", default="", help="where to start (empty: serve and crawl a local demo site)")
define("concurrency", default=10, help="fetches at a time")


class _Links(HTMLParser):
    """Collects the href of every <a> tag."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


async def get_links_from_url(url: str) -> list[str]:
    """Fetch ``url``; return the absolute URLs it links to (fragments removed)."""
    response = await httpclient.AsyncHTTPClient().fetch(url)
    parser = _Links()
    parser.feed(response.body.decode(errors="ignore"))
    return [urldefrag(urljoin(response.effective_url, href))[0] for href in parser.hrefs]


async def crawl(base_url: str, concurrency: int) -> tuple[set[str], set[str]]:
    """Crawl every page under ``base_url``; return (fetched, dead) URLs."""
    queue: queues.Queue[str | None] = queues.Queue()
    fetching: set[str] = set()
    fetched: set[str] = set()
    dead: set[str] = set()

    async def fetch_url(url: str) -> None:
        if url in fetching:
            return
        fetching.add(url)
        links = await get_links_from_url(url)
        fetched.add(url)
        for link in links:
            if link.startswith(base_url):
                await queue.put(link)

    async def worker() -> None:
        async for url in queue:
            if url is None:
                return
            try:
                await fetch_url(url)
            except Exception as exc:
                print(f"Cannot fetch {url}: {exc}")
                dead.add(url)
            finally:
                queue.task_done()

    await queue.put(base_url)
    workers = gen.multi([worker() for _ in range(concurrency)])
    await queue.join(timeout=timedelta(seconds=300))
    assert fetching == fetched | dead
    for _ in range(concurrency):
        await queue.put(None)
    await workers
    return fetched, dead


class _Page(RequestHandler):
    """A page of the demo site: links to its neighbours, one broken link, one off the site."""

    PAGES = {
        "": ["about", "blog", "https://example.org/elsewhere"],
        "about": ["", "team#people"],
        "team": ["about", "blog/2"],
        "blog": ["blog/1", "blog/2", "missing"],
        "blog/1": ["blog", "blog/2"],
        "blog/2": ["blog/1", "/"],
    }

    def get(self, path: str) -> None:
        links = self.PAGES.get(path.strip("/"))
        if links is None:
            raise HTTPError(404)
        body = "".join(
            f'<a href="/{link}">{link}</a> '
            if "://" not in link
            else f'<a href="{link}">off site</a> '
            for link in links
        )
        self.write(f"<html><body><h1>{path or 'home'}</h1>{body}</body></html>")


def demo_site() -> str:
    """Serve the demo site on a free port; return its URL."""
    sock, port = bind_unused_port()
    app = Application([(r"/(.*)", _Page)])
    from squall.httpserver import HTTPServer

    HTTPServer(app).add_sockets([sock])
    return f"http://127.0.0.1:{port}/"


async def main() -> None:
    """Crawl ``--url`` (or the demo site) and print what was found."""
    base_url = options.url or demo_site()
    start = time.monotonic()
    fetched, dead = await crawl(base_url, options.concurrency)
    print(f"Done in {time.monotonic() - start:.2f} s: {len(fetched)} pages, {len(dead)} dead")
    for url in sorted(fetched):
        print(f"fetched {url}")
    for url in sorted(dead):
        print(f"dead {url}")


if __name__ == "__main__":
    parse_command_line()
    IOLoop.current().run_sync(main)
