"""A small blog written the way Tornado applications are written, running on squall.

    python examples/tornado_blog/blog.py --port=8002

Then open http://127.0.0.1:8002/: the first visit asks for an author account (name, email,
password); after that, sign in to write and edit posts. Everything a Tornado application of
this kind uses is here, with only the imports naming squall:

- templates in Tornado's language (``templates/``): ``base.html`` with blocks that the pages
  extend, ``{% module Entry(entry) %}`` rendering each post through a UI module that brings
  its own CSS, ``{% module xsrf_form_html() %}`` in every form;
- translations in a CSV file (``translations/fr_FR.csv``), chosen from the browser's
  ``Accept-Language``; templates translate with ``_()`` (with a plural form on the archive);
- XSRF protection (``xsrf_cookies``) and a signed login cookie (``cookie_secret``, the
  ``@authenticated`` decorator and ``login_url``);
- SQLite (the standard library's ``sqlite3``) instead of a database server: one file,
  ``--db`` (``blog.sqlite3`` next to this script by default). Queries are quick local calls,
  made directly on the event loop; password hashing, which is slow on purpose, runs in a
  thread.

Options: ``--port``, ``--address``, ``--db``, ``--cookie_secret`` (random at each start if
not given, which signs everyone out on restart), ``--debug`` (templates reload on every
request).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import unicodedata
from typing import Any

from squall import locale
from squall.log import app_log, enable_pretty_logging
from squall.options import OptionParser
from squall.util import ObjectDict
from squall.web import Application, HTTPError, RequestHandler, UIModule, authenticated

HERE = os.path.dirname(os.path.abspath(__file__))

# The blog's own options (a parser of its own, so that importing this module, in a test say,
# defines nothing in the process-wide squall.options.options).
options = OptionParser()
options.define("port", default=8002, type=int, help="port to listen on")
options.define("address", default="127.0.0.1", help="address to listen on")
options.define("db", default=os.path.join(HERE, "blog.sqlite3"), help="SQLite database file")
options.define("cookie_secret", default="", help="secret that signs cookies (random if empty)")
options.define("debug", default=False, type=bool, help="reload templates on every request")

SCHEMA = """
CREATE TABLE IF NOT EXISTS authors (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    hashed_password TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors(id),
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    published TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_published ON entries(published);
"""
PASSWORD_ITERATIONS = 200_000  # PBKDF2-SHA256 rounds (OWASP's 2023 advice is 600,000)
MAX_TITLE = 200  # characters
MAX_BODY = 100_000  # characters


class Database:
    """A thin layer over one SQLite connection: rows come back as ``ObjectDict``s."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA foreign_keys = ON")
        self.connection.executescript(SCHEMA)

    def query(self, sql: str, *args: Any) -> list[ObjectDict]:
        """Every row of a SELECT."""
        return [ObjectDict(row) for row in self.connection.execute(sql, args)]

    def queryone(self, sql: str, *args: Any) -> ObjectDict | None:
        """The one row of a SELECT, or None; more than one is a bug in the query."""
        rows = self.query(sql, *args)
        if len(rows) > 1:
            raise ValueError(f"expected at most one row, got {len(rows)}: {sql}")
        return rows[0] if rows else None

    def execute(self, sql: str, *args: Any) -> int:
        """Run an INSERT/UPDATE/DELETE and commit; returns the last inserted row id."""
        with self.connection:
            cursor = self.connection.execute(sql, args)
        return cursor.lastrowid or 0

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class BlogApplication(Application):
    """The blog: its routes, settings and database."""

    def __init__(self, db: Database, cookie_secret: str, debug: bool = False) -> None:
        self.db = db
        locale.load_translations(os.path.join(HERE, "translations"))
        handlers = [
            (r"/", HomeHandler),
            (r"/archive", ArchiveHandler),
            (r"/entry/([^/]+)", EntryHandler),
            (r"/compose", ComposeHandler),
            (r"/auth/create", AuthCreateHandler),
            (r"/auth/login", AuthLoginHandler),
            (r"/auth/logout", AuthLogoutHandler),
        ]
        super().__init__(
            handlers,
            blog_title="A squall blog",
            template_path=os.path.join(HERE, "templates"),
            static_path=os.path.join(HERE, "static"),
            ui_modules={"Entry": EntryModule},
            xsrf_cookies=True,
            cookie_secret=cookie_secret,
            login_url="/auth/login",
            debug=debug,
        )


class BaseHandler(RequestHandler):
    """What every page shares: the database and the signed-in author."""

    application: BlogApplication

    @property
    def db(self) -> Database:
        return self.application.db

    def get_current_user(self) -> ObjectDict | None:
        author_id = self.get_signed_cookie("blog_author")
        if not author_id:
            return None
        return self.db.queryone("SELECT * FROM authors WHERE id = ?", int(author_id))

    def any_author_exists(self) -> bool:
        return self.db.queryone("SELECT id FROM authors LIMIT 1") is not None

    def entries(self, sql: str, *args: Any) -> list[ObjectDict]:
        """Entry rows with their dates as datetimes and their author's name."""
        rows = self.db.query(
            "SELECT entries.*, authors.name AS author_name FROM entries "
            "JOIN authors ON authors.id = entries.author_id " + sql,
            *args,
        )
        for row in rows:
            row.published = datetime.datetime.fromisoformat(row.published)
            row.updated = datetime.datetime.fromisoformat(row.updated)
        return rows

    def sign_in(self, author_id: int) -> None:
        self.set_signed_cookie("blog_author", str(author_id), httponly=True, samesite="Lax")


class HomeHandler(BaseHandler):
    def get(self) -> None:
        entries = self.entries("ORDER BY published DESC LIMIT 5")
        if not entries and not self.any_author_exists():
            self.redirect("/auth/create")
            return
        self.render("home.html", entries=entries)


class EntryHandler(BaseHandler):
    def get(self, slug: str) -> None:
        found = self.entries("WHERE slug = ?", slug)
        if not found:
            raise HTTPError(404)
        self.render("entry.html", entry=found[0])


class ArchiveHandler(BaseHandler):
    def get(self) -> None:
        self.render("archive.html", entries=self.entries("ORDER BY published DESC"))


class ComposeHandler(BaseHandler):
    @authenticated
    def get(self) -> None:
        entry_id = self.get_argument("id", None)
        entry = None
        if entry_id:
            found = self.entries("WHERE entries.id = ?", int(entry_id))
            if not found:
                raise HTTPError(404)
            entry = found[0]
        self.render("compose.html", entry=entry, error=None)

    @authenticated
    def post(self) -> None:
        entry_id = self.get_argument("id", None)
        title = self.get_argument("title")
        body = self.get_argument("body", strip=False).replace("\r\n", "\n").strip()
        if not title or not body or len(title) > MAX_TITLE or len(body) > MAX_BODY:
            self.set_status(400)
            draft = ObjectDict(id=entry_id, title=title, body=body)
            self.render("compose.html", entry=draft, error=self.locale.translate("Say something"))
            return
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat()
        if entry_id:
            existing = self.db.queryone("SELECT slug FROM entries WHERE id = ?", int(entry_id))
            if existing is None:
                raise HTTPError(404)
            self.db.execute(
                "UPDATE entries SET title = ?, body = ?, updated = ? WHERE id = ?",
                title,
                body,
                now,
                int(entry_id),
            )
            slug = existing.slug
        else:
            slug = self.unused_slug(title)
            self.db.execute(
                "INSERT INTO entries (author_id, slug, title, body, published, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                self.current_user.id,
                slug,
                title,
                body,
                now,
                now,
            )
        self.redirect("/entry/" + slug)

    def unused_slug(self, title: str) -> str:
        ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
        base = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80] or "entry"
        slug, n = base, 1
        while self.db.queryone("SELECT id FROM entries WHERE slug = ?", slug):
            n += 1
            slug = f"{base}-{n}"
        return slug


async def hash_password(password: str, salt: bytes | None = None) -> str:
    """``salt$hash`` (hex) of ``password``, computed in a thread (it is slow on purpose)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = await asyncio.get_running_loop().run_in_executor(
        None, hashlib.pbkdf2_hmac, "sha256", password.encode(), salt, PASSWORD_ITERATIONS
    )
    return f"{salt.hex()}${digest.hex()}"


async def check_password(password: str, hashed: str) -> bool:
    salt, _, _ = hashed.partition("$")
    return hmac.compare_digest(await hash_password(password, bytes.fromhex(salt)), hashed)


class AuthCreateHandler(BaseHandler):
    """The first author's account (only while the blog has none)."""

    def get(self) -> None:
        if self.any_author_exists():
            self.redirect("/auth/login")
            return
        self.render("create_author.html", error=None)

    async def post(self) -> None:
        if self.any_author_exists():
            raise HTTPError(403, "an author exists already")
        name = self.get_argument("name")
        email = self.get_argument("email")
        password = self.get_argument("password", strip=False)
        if not name or "@" not in email or len(password) < 8:
            self.set_status(400)
            message = "Give a name, an email address and a password of 8 characters or more"
            self.render("create_author.html", error=self.locale.translate(message))
            return
        hashed = await hash_password(password)
        author_id = self.db.execute(
            "INSERT INTO authors (email, name, hashed_password) VALUES (?, ?, ?)",
            email,
            name,
            hashed,
        )
        self.sign_in(author_id)
        self.redirect(self.get_argument("next", "/"))


class AuthLoginHandler(BaseHandler):
    def get(self) -> None:
        if not self.any_author_exists():
            self.redirect("/auth/create")
            return
        self.render("login.html", error=None)

    async def post(self) -> None:
        email = self.get_argument("email")
        author = self.db.queryone("SELECT * FROM authors WHERE email = ?", email)
        password = self.get_argument("password", strip=False)
        if author is None or not await check_password(password, author.hashed_password):
            self.set_status(403)
            self.render("login.html", error=self.locale.translate("Wrong email or password"))
            return
        self.sign_in(author.id)
        self.redirect(self.get_argument("next", "/"))


class AuthLogoutHandler(BaseHandler):
    def post(self) -> None:
        self.clear_cookie("blog_author")
        self.redirect(self.get_argument("next", "/"))


class EntryModule(UIModule):
    """One post, as ``{% module Entry(entry) %}``; brings the CSS posts need."""

    def render(self, entry: ObjectDict, link: bool = True) -> bytes:
        paragraphs = [p.strip() for p in entry.body.split("\n\n") if p.strip()]
        return self.render_string(
            "modules/entry.html", entry=entry, paragraphs=paragraphs, link=link
        )

    def embedded_css(self) -> str:
        return ".entry .byline { color: #777; font-size: 0.9em; margin-top: -0.5em }"

    def css_files(self) -> list[str]:
        return ["entry.css"]


async def main() -> None:
    """Serve the blog until interrupted."""
    options.parse_command_line()
    enable_pretty_logging()
    cookie_secret = options.cookie_secret
    if not cookie_secret:
        cookie_secret = secrets.token_hex(32)
        app_log.info("no --cookie_secret given: a random one (sign-ins end on restart)")
    db = Database(options.db)
    app = BlogApplication(db, cookie_secret, debug=options.debug)
    app.listen(options.port, options.address)
    print(f"blog on http://{options.address}:{options.port}/ (database {options.db})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        db.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
