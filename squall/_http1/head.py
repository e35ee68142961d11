"""Request-head rules: which header fields the protocol tracks, and what makes a head invalid.

Called from the parser callbacks in ``protocol.py``; they raise :class:`RequestRejected` (with
the status to answer) for a head our checks refuse. llhttp has already refused what it can
(bad tokens, obs-fold, control characters, both Content-Length and Transfer-Encoding, ...);
these are the rules it leaves to the server.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from squall._http1.params import RequestRejected

if TYPE_CHECKING:
    from squall._http1.exchange import HTTP1Exchange

__all__ = [
    "STAND_IN",
    "TRACKED",
    "VERSIONS",
    "classify_header",
    "method_end",
    "note_header",
    "validate_head",
]

# RFC 9110 §7.2 Host = uri-host [ ":" port ]; uri-host is an IP-literal, IPv4 or reg-name.
_HOST_RE: Final = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]{0,5})?"
)
VERSIONS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
#: The method llhttp parses in place of one it does not know (an extension method such as
#: ``OTHER``): a registered one it frames like any other request, and that nobody sends.
STAND_IN: Final = b"SOURCE"
# RFC 9110 §5.6.2 tchar: what a method (a token) is made of.
_TCHAR: Final = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALID_HOSTS: Final[set[bytes]] = set()


#: The fields the protocol tracks, lower-cased.
TRACKED: Final = frozenset(
    {
        b"host",
        b"connection",
        b"content-length",
        b"transfer-encoding",
        b"expect",
        b"content-encoding",
    }
)


def classify_header(name: bytes) -> bytes | None:
    """The lower-cased name if the protocol tracks this field, else None (callers cache it)."""
    lowered = name.lower()
    return lowered if lowered in TRACKED else None


def note_header(ex: HTTP1Exchange, name: bytes, value: bytes) -> None:
    """Record a field the protocol needs (``name`` lower-cased and one of ``TRACKED``)."""
    if name == b"host":
        ex.host_count += 1
        ex.host_value = value
    elif name == b"connection":
        ex.connection_tokens += b"," + value.lower()
    elif name == b"content-length":
        ex.content_length = int(value)  # llhttp has validated the digits
    elif name == b"transfer-encoding":
        ex.transfer_encoding += b"," + value.lower()
    elif name == b"expect":
        ex.expect_continue = value.lower() == b"100-continue"
    elif name == b"content-encoding":
        ex.content_encoding = value.strip().lower()


def method_end(line: bytes, limit: int) -> int:
    """Where the method of a request line ends (the index of the space after it).

    ``line`` is the start of a request line whose method llhttp did not know. RFC 9110 §9.1:
    a method is a token, and any token is one (the application answers 405 for a method it
    does not serve). Returns -1 while ``line`` is all token characters (the method goes on in
    the next read); raises :class:`RequestRejected` for a method that is not a token (400) or
    is longer than ``limit`` bytes (501, RFC 9112 §3: longer than any method served)."""
    rest = line.translate(None, _TCHAR)
    if not rest:
        if len(line) > limit:
            raise RequestRejected("Not Implemented: request method too long", 501)
        return -1
    end = line.find(rest[:1])
    if end == 0 or rest[0] != 32:  # 32: SP
        raise RequestRejected("Bad Request: Malformed HTTP request line (invalid method)", 400)
    if end > limit:
        raise RequestRejected("Not Implemented: request method too long", 501)
    return end


def validate_head(ex: HTTP1Exchange, version: str, no_keep_alive: bool) -> None:
    """Check a complete head (Host, framing, size) and decide keep-alive; may reject it."""
    if version == "HTTP/1.1":
        if ex.host_count != 1:
            which = "Missing" if ex.host_count == 0 else "Multiple"
            raise RequestRejected(f"{which} Host header", 400)
    elif ex.host_count > 1:
        raise RequestRejected("Multiple Host headers", 400)
    if ex.host_count and ex.host_value not in _VALID_HOSTS:
        host = ex.host_value
        if _HOST_RE.fullmatch(host) is None:
            raise RequestRejected("Invalid Host header", 400)
        if b":" in host and not host.endswith(b"]"):
            port = host.rpartition(b":")[2]
            if port and int(port) > 65535:
                raise RequestRejected("Invalid Host header: bad port", 400)
        if len(_VALID_HOSTS) < 256:  # clients repeat a few Host values: check each once
            _VALID_HOSTS.add(host)
    if ex.transfer_encoding:
        codings = [c.strip() for c in ex.transfer_encoding.split(b",") if c.strip()]
        if not codings or codings[-1] != b"chunked":
            raise RequestRejected(_unsupported(ex, "must end with chunked"), 400)
        if codings.count(b"chunked") > 1:  # RFC 9112 §6.1: chunked at most once
            raise RequestRejected(_unsupported(ex, "chunked more than once"), 400)
        if len(codings) > 1:
            raise RequestRejected(_unsupported(ex, ""), 501)
        ex.has_body = True
    elif ex.content_length > 0:
        ex.has_body = True
    tokens = ex.connection_tokens
    if version == "HTTP/1.1":
        # bytes.find, not ``in``: ``bytes in bytes`` first tries the operand as an int and
        # raises (and swallows) a TypeError each time, a measurable cost per request.
        keep_alive = not tokens or tokens.find(b"close") < 0 or not _has_token(tokens, b"close")
    else:
        keep_alive = (
            _has_token(tokens, b"keep-alive")
            and not _has_token(tokens, b"close")
            and (ex.content_length >= 0 or ex.method in ("GET", "HEAD"))
        )
        if ex.transfer_encoding:
            keep_alive = False  # RFC 9112 §6.1: chunked in HTTP/1.0 is faulty framing
    ex.keep_alive = keep_alive and not no_keep_alive


def _unsupported(ex: HTTP1Exchange, why: str) -> str:
    """The message refusing the Transfer-Encoding of ``ex``: its fields' values as sent,
    joined with "," (so an operator sees what arrived, duplicates included)."""
    value = b",".join(v for n, v in ex.raw_headers if n.lower() == b"transfer-encoding")
    text = value.decode("latin-1")
    if why:
        return f"Bad Request: Unsupported Transfer-Encoding {text} ({why})"
    return f"Not Implemented: Unsupported Transfer-Encoding {text}"


def _has_token(tokens: bytes, token: bytes) -> bool:
    """Whether a comma-separated (lower-cased) Connection value list contains ``token``."""
    return token in (t.strip() for t in tokens.split(b","))
