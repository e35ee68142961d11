"""StaticFileHandler: files under a root folder, with validators, ranges and versioned URLs.

How this works
--------------
``get`` turns the URL path into an absolute path and confines it *before* anything about the
file's content is read, in two steps. :meth:`StaticFileHandler.get_absolute_path` joins and
normalises the path as written and refuses (403) one that leaves the root that way (``..``,
encoded dot segments, an absolute path); ``static_url`` goes through the same check, so it
never reads outside the static folder either. Then
:meth:`StaticFileHandler.validate_absolute_path` resolves symlinks: the real path must lie in
the root, or in one of the ``allowed_symlink_directory`` folders when the application names
them, else 403. That happens before the path is looked at otherwise (is it a folder? does it
exist?), so a symlink pointing out answers 403 whether its target exists or not. Only a
regular file is served (403 for anything else) and a missing one is 404. A NUL byte in the
path is a malformed request: 400.

Then the headers: ``Etag`` is the quoted SHA-512 hex digest of the content, the same string
``static_url`` puts after ``?v=``; digests are cached per absolute path (class-wide, the
``MAX_CACHED_VERSIONS`` most recently used, cleared by :meth:`StaticFileHandler.reset`)
unless the ``static_hash_cache`` setting is False. Content above ``MAX_VERSION_CONTENT_SIZE``
is not hashed (hashing blocks the event loop): it gets no version and no ETag.
``If-None-Match`` decides a 304 alone when present; otherwise ``If-Modified-Since`` at or
after the mtime does. A single ``bytes=`` range gives 206 (or 416 when unsatisfiable).

The body comes from :meth:`StaticFileHandler.get_content`, a generator of 64 KiB chunks for a
byte range; each chunk is written and flushed, so the transport's back-pressure paces the
reads and no file is ever held in memory whole. The digest is computed from the same chunks.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import mimetypes
import os
import re
import stat
import threading
from collections.abc import Awaitable, Generator, Iterable
from itertools import islice
from typing import Any, BinaryIO

from squall._web.errors import HTTPError
from squall._web.handler import RequestHandler
from squall.log import gen_log

__all__ = ["StaticFileHandler"]

_UNSATISFIABLE = (-1, -1)  # _byte_range's answer for a range that gets 416

# A missing dash ("bytes=26") reads as an open-ended range, as Tornado reads it.
_RANGE = re.compile(r"bytes\s*=\s*([0-9]*)\s*(?:-\s*([0-9]*))?")


class StaticFileHandler(RequestHandler):
    """Serves the files under a folder: ``(r"/static/(.*)", StaticFileHandler, {"path": root})``.

    GET and HEAD. A path leading outside the root gives 403 (also through a symlink, unless
    the ``allowed_symlink_directory`` argument, a folder or a list of folders, holds its
    target; the list replaces the root, so list the root too), a NUL byte in it 400, a
    missing file 404, a directory 403 unless ``default_filename`` is set (then a request
    without the trailing slash gets a 301 that adds it; a path starting with ``//`` is
    refused with 403, since the redirect would point to another host), and anything but a
    regular file 403. Responses carry ``Accept-Ranges``, ``Etag`` (SHA-512 of the content),
    ``Last-Modified`` and a ``Content-Type`` guessed from the file name; a request with a
    ``v`` argument (a versioned ``static_url``) is cacheable for ten years.

    Override points, with Tornado's names (the classmethods stay classmethods, because
    ``static_url`` calls them without a handler): :meth:`get_content`,
    :meth:`get_content_version`, :meth:`get_absolute_path`, :meth:`make_static_url`,
    :meth:`get_version`; and on the instance :meth:`get_content_size`,
    :meth:`get_modified_time`, :meth:`get_content_type`, :meth:`get_cache_time`,
    :meth:`validate_absolute_path`, :meth:`parse_url_path`, :meth:`set_extra_headers`,
    :meth:`compute_etag`, :meth:`should_return_304`.
    """

    CACHE_MAX_AGE = 86400 * 365 * 10  # ten years, for versioned URLs
    CHUNK_SIZE = 64 * 1024
    #: The largest content (bytes) :meth:`get_content_version` hashes: hashing is synchronous
    #: and ``static_url`` waits for it, so a larger file gets no version. Subclasses may
    #: change it.
    MAX_VERSION_CONTENT_SIZE = 64 * 1024 * 1024
    #: How many versions :meth:`get_version` keeps; beyond, the least recently used goes
    #: (and its file is read again when asked for). Bounds the memory of ``static_url``
    #: called with many paths. Subclasses may change it.
    MAX_CACHED_VERSIONS = 10000

    _static_hashes: dict[str, str | None] = {}  # least recently used first
    _lock = threading.Lock()

    # Per-request state, with class defaults: a subclass whose ``initialize`` does not call
    # this one (a handler searching several roots), or a handler built by hand, has them too.
    root: Any  # a folder; a subclass's own get_absolute_path may take anything here
    default_filename: str | None = None
    allowed_symlink_directory: str | list[str] | None = None  # None: the root
    path: str = ""
    absolute_path: str | None = None
    modified: datetime.datetime | None = None
    _stat_result: os.stat_result | None = None

    def initialize(  # type: ignore[override]
        self,
        path: str,
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
    ) -> None:
        """Remember the root folder, the file served for a directory (if any), and where
        symlinks may lead (a folder or a list of folders; None, the default: the root)."""
        self.root = path
        self.default_filename = default_filename
        self.allowed_symlink_directory = allowed_symlink_directory

    @classmethod
    def reset(cls) -> None:
        """Forget every cached content digest (they are recomputed on next use)."""
        with cls._lock:
            cls._static_hashes.clear()

    # -- serving -----------------------------------------------------------------------------

    def head(self, path: str) -> Awaitable[None]:
        """Like GET, without the body (``Content-Length`` still gives the full size)."""
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        """Serve the file at ``path`` under the root: 200, 206, 304, 416, or an error."""
        path = path or ""
        if "\x00" in path:
            raise HTTPError(400, "NUL byte in static file path %r", path)
        self.path = self.parse_url_path(path)
        absolute_path = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute_path)
        if self.absolute_path is None:
            return
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return
        size = self.get_content_size()
        span = _byte_range(self.request.headers.get("Range"), size)
        if span is None:
            start, end = 0, size
        elif span is _UNSATISFIABLE:
            self.set_status(416)
            self.set_header("Content-Type", "text/plain")
            self.set_header("Content-Range", f"bytes */{size}")
            return
        else:
            start, end = span
            if end - start != size:
                self.set_status(206)
                self.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.set_header("Content-Length", end - start)
        if not include_body:
            return
        content: bytes | Iterable[bytes] = self.get_content(
            self.absolute_path, start if start else None, end if end != size else None
        )
        for chunk in [content] if isinstance(content, bytes) else content:
            if not chunk:
                continue
            self.write(chunk)
            try:
                await self.flush()
            except OSError:  # the client went away (StreamClosedError): stop reading
                return

    def set_headers(self) -> None:
        """Set the validators, the content type, caching headers and :meth:`set_extra_headers`."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=cache_time)
            self.set_header("Expires", expires)
            self.set_header("Cache-Control", f"max-age={cache_time}")
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """Whether the client's copy is current: ``If-None-Match`` alone when present, else
        ``If-Modified-Since`` at or after the mtime (an unparseable date is ignored)."""
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        ims = self.request.headers.get("If-Modified-Since")
        if ims is None or self.modified is None:
            return False
        try:
            since = email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=datetime.UTC)
        return since >= self.modified

    def compute_etag(self) -> str | None:
        """The quoted content digest (the static-URL version), or None if it can't be read."""
        if self.absolute_path is None:
            return None
        use_cache = bool(self.settings.get("static_hash_cache", True))
        version = self._get_cached_version(self.absolute_path, use_cache)
        return f'"{version}"' if version else None

    # -- paths -------------------------------------------------------------------------------

    def parse_url_path(self, url_path: str) -> str:
        """Turn the URL path group into a relative file path (``/`` becomes ``os.sep``)."""
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path

    @classmethod
    def get_absolute_path(cls, root: Any, path: str) -> str:
        """The absolute, normalised path of ``path`` under the folder ``root``, as written
        (symlinks are resolved later, by :meth:`validate_absolute_path`).

        Raises ``HTTPError`` 403 when the path leaves ``root`` as written (``../``, an
        absolute path); ``static_url`` relies on this to read nothing outside the static
        folder. An override may take a ``root`` of its own kind (a list of folders to
        search) and return any string its :meth:`get_content` understands."""
        root_dir = os.path.abspath(root)
        absolute_path = os.path.abspath(os.path.join(root_dir, path))
        if not _within(root_dir, absolute_path):
            raise HTTPError(403, "%s is not in root static directory", path)
        return absolute_path

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Check ``absolute_path`` may be served and return the file to serve, or None when
        the response has already been sent (the 301 that adds a directory's slash).

        ``root`` is the folder the path was found in. Raises ``HTTPError`` 403 for a path
        outside ``root`` as written, or whose symlinks lead outside ``root`` (or outside
        every ``allowed_symlink_directory``), for a directory without ``default_filename``
        and for anything but a regular file; 404 for a missing file."""
        if "\x00" in absolute_path:
            raise HTTPError(400, "NUL byte in static file path %r", self.path)
        root_dir = os.path.abspath(root)
        if not _within(root_dir, absolute_path):
            raise HTTPError(403, "%s is not in root static directory", self.path)
        allowed = self.allowed_symlink_directory
        if allowed is None:
            allowed_dirs = [root_dir]
        else:
            allowed_dirs = [allowed] if isinstance(allowed, str) else list(allowed)
        # Before anything else looks at the path: a symlink out must answer the same 403
        # whether its target exists or not (no probing of the server's files).
        _confine(absolute_path, allowed_dirs, self.path)
        if os.path.isdir(absolute_path) and self.default_filename is not None:
            request_path = self.request.path
            if not request_path.endswith("/"):
                # A browser reads "//host" and "/\\host" alike as another site: redirecting
                # there would be an open redirect.
                if request_path[:2] in ("//", "/\\"):
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(request_path + "/", permanent=True)
                return None
            absolute_path = os.path.join(absolute_path, self.default_filename)
            if not _within(root_dir, os.path.abspath(absolute_path)):
                raise HTTPError(403, "%s is not in root static directory", self.path)
            _confine(absolute_path, allowed_dirs, self.path)  # the default file is a path too
        try:
            self._stat_result = os.stat(absolute_path)
        except (FileNotFoundError, NotADirectoryError):
            raise HTTPError(404) from None
        except OSError as e:
            raise HTTPError(403, "%s cannot be read: %s", self.path, e) from None
        if not stat.S_ISREG(self._stat_result.st_mode):
            raise HTTPError(403, "%s is not a file", self.path)
        return absolute_path

    # -- content and its metadata ------------------------------------------------------------

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Generator[bytes, None, None]:
        """Yield the bytes of ``abspath`` from ``start`` (default 0) up to ``end`` (exclusive;
        default the end of the file) in chunks of at most ``CHUNK_SIZE``.

        The file is opened on the first ``next()`` and closed when the generator ends or is
        closed. An override may also return the whole content as ``bytes``. Only a regular
        file is read: anything else (a FIFO, a device such as ``/dev/zero``, a directory)
        raises ``OSError`` saying it is not a file, without blocking on it."""
        with _open_regular_file(abspath) as f:
            if start:
                f.seek(start)
            remaining = None if end is None else end - (start or 0)
            while remaining is None or remaining > 0:
                size = cls.CHUNK_SIZE if remaining is None else min(cls.CHUNK_SIZE, remaining)
                chunk = f.read(size)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """The SHA-512 hex digest of the file's content, read chunk by chunk.

        Content larger than ``MAX_VERSION_CONTENT_SIZE`` raises ``ValueError`` (a regular
        file is measured before it is read)."""
        limit = cls.MAX_VERSION_CONTENT_SIZE
        try:
            size = os.stat(abspath).st_size
        except (OSError, ValueError):
            size = 0  # not a file of this filesystem: get_content knows what it is
        if size > limit:
            raise ValueError(_too_large(abspath, limit))
        hasher = hashlib.sha512()
        content: bytes | Iterable[bytes] = cls.get_content(abspath)
        total = 0
        try:
            for chunk in [content] if isinstance(content, bytes) else content:
                total += len(chunk)
                if total > limit:
                    raise ValueError(_too_large(abspath, limit))
                hasher.update(chunk)
        finally:
            close = getattr(content, "close", None)
            if close is not None:
                close()
        return hasher.hexdigest()

    @classmethod
    def _get_cached_version(cls, abs_path: str, use_cache: bool = True) -> str | None:
        """The content version of ``abs_path`` (from the cache when allowed), None if the
        file can't be read or is too large (that is logged). The cache keeps the
        ``MAX_CACHED_VERSIONS`` most recently used versions."""
        hashes = cls._static_hashes
        if use_cache:
            with cls._lock:
                if abs_path in hashes:
                    version = hashes.pop(abs_path)
                    hashes[abs_path] = version  # now the most recently used
                    return version
        try:
            version = cls.get_content_version(abs_path)
        except Exception as e:
            gen_log.error("Could not open static file %r: %s", abs_path, e)
            version = None
        if use_cache:
            with cls._lock:
                hashes[abs_path] = version
                excess = len(hashes) - max(cls.MAX_CACHED_VERSIONS, 1)
                for stale in list(islice(hashes, excess)) if excess > 0 else ():
                    del hashes[stale]
        return version

    def _stat(self) -> os.stat_result:
        # validate_absolute_path leaves the stat of the file it checked; an override may not.
        if self._stat_result is None:
            if self.absolute_path is None:
                raise RuntimeError("stat of a static file before its path was validated")
            self._stat_result = os.stat(self.absolute_path)
        return self._stat_result

    def get_content_size(self) -> int:
        """The size of the file in bytes (one ``stat`` per request, shared with the mtime)."""
        return self._stat().st_size

    def get_modified_time(self) -> datetime.datetime | None:
        """The file's mtime as an aware UTC datetime, truncated to whole seconds."""
        return datetime.datetime.fromtimestamp(int(self._stat().st_mtime), tz=datetime.UTC)

    def get_content_type(self) -> str:
        """The MIME type guessed from the file name: ``application/gzip`` for ``.gz`` files,
        ``application/octet-stream`` for other encodings and for unknown types."""
        if self.absolute_path is None:
            return "application/octet-stream"
        mime_type, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None or mime_type is None:
            return "application/octet-stream"
        return mime_type

    def get_cache_time(self, path: str, modified: datetime.datetime | None, mime_type: str) -> int:
        """Seconds the response may be cached: ``CACHE_MAX_AGE`` for a versioned request
        (a ``v`` argument), else 0 (no ``Expires``/``Cache-Control`` is sent)."""
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    def set_extra_headers(self, path: str) -> None:
        """Hook: add headers to every static response (nothing by default)."""

    # -- static URLs -------------------------------------------------------------------------

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        """``static_url_prefix`` (default ``/static/``) + ``path``, plus ``?v=<sha512 hex>``
        when ``include_version`` and the file can be read (the full digest, as the ETag)."""
        url = str(settings.get("static_url_prefix", "/static/")) + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return f"{url}?v={version}" if version else url

    @classmethod
    def get_version(cls, settings: dict[str, Any], path: str) -> str | None:
        """The content version of ``path`` under the ``static_path`` setting (a folder, or
        whatever an overriding :meth:`get_absolute_path` takes, such as a list of folders);
        None if the file is missing, unreadable, not a regular file or too large.

        A path leading outside the static folder raises ``HTTPError`` 403 (from
        :meth:`get_absolute_path`). ``path`` should name a known static file, not come from
        a client. A symlink in the static folder gets the version of its target wherever
        that is (the URL shows the hash, never the content): only trusted people should
        place symlinks there."""
        if "\x00" in path:
            return None
        abs_path = cls.get_absolute_path(settings["static_path"], path)
        return cls._get_cached_version(abs_path, bool(settings.get("static_hash_cache", True)))


def _within(directory: str, path: str) -> bool:
    """Whether the normalised ``path`` is ``directory`` or below it (both absolute)."""
    if path == directory:
        return True
    return path.startswith(directory.rstrip(os.sep) + os.sep)


def _confine(absolute_path: str, allowed_dirs: list[str], path_message: str) -> None:
    """403 unless ``absolute_path``, symlinks resolved, lies in one of ``allowed_dirs``
    (themselves resolved). A check of one moment: not a substitute for file permissions on
    a folder untrusted users can write to."""
    real_path = os.path.realpath(absolute_path)
    for directory in allowed_dirs:
        if _within(os.path.realpath(directory), real_path):
            return
    raise HTTPError(403, "%s is not in root static directory", path_message)


def _too_large(abspath: str, limit: int) -> str:
    return (
        f"{abspath} is larger than {limit} bytes (MAX_VERSION_CONTENT_SIZE), so it gets no version"
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a ``Range`` header against a file of ``size`` bytes.

    Returns ``(start, end)`` with ``end`` exclusive and clamped to ``size``; None when there is
    no usable header (absent, another unit, several ranges, malformed: the whole file is sent);
    or ``_UNSATISFIABLE`` (start at or past the end, ``-0``, or an end before the start)."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2) or ""
    if not first:
        if not last:
            return None
        start = max(size - int(last), 0)
        if int(last) == 0 or start >= size:  # ``-0``, or any suffix of an empty file
            return _UNSATISFIABLE
        return start, size
    start = int(first)
    if start >= size:
        return _UNSATISFIABLE
    if not last:
        return start, size
    end = int(last) + 1
    if end <= start:
        return _UNSATISFIABLE
    return start, min(end, size)


def _open_regular_file(path: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file, else raise ``OSError``.

    The file is opened non-blocking and checked on the open descriptor, so a FIFO without a
    writer cannot hang the server and a path swapped between a check and the open cannot
    slip through."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a file")
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
