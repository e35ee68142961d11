"""The TLS context of ``squall serve`` from its ``--ssl-*`` options (uvicorn's names).

The master builds one at startup only to check the files (a missing file, a key that does not
match its certificate or a wrong password is a usage error, before anything binds); each worker
builds its own after the fork, so a rolling restart (HUP) serves renewed certificates. A
single process (``--workers 0``) reloads them in place on HUP: connections already open keep
theirs, new handshakes get the new ones. ALPN offers ``http/1.1``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TLSConfig", "TLSError"]


class TLSError(ValueError):
    """The TLS files or settings cannot be used; the message names the option."""


@dataclass(frozen=True)
class TLSConfig:
    """The ``--ssl-*`` options; :meth:`context` builds a server context from them."""

    certfile: str
    keyfile: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    cert_reqs: int = ssl.CERT_NONE
    ciphers: str | None = None

    def context(self) -> ssl.SSLContext:
        """A new server ``SSLContext`` (TLS 1.2+, ALPN ``http/1.1``); TLSError if unusable."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load_into(ctx)
        if self.ca_certs:
            _exists(self.ca_certs, "--ssl-ca-certs")
            try:
                ctx.load_verify_locations(self.ca_certs)
            except ssl.SSLError as exc:
                raise TLSError(
                    f"--ssl-ca-certs {self.ca_certs}: no usable CA certificate ({_why(exc)})"
                )
        ctx.verify_mode = ssl.VerifyMode(self.cert_reqs)
        if self.ciphers:
            try:
                ctx.set_ciphers(self.ciphers)
            except ssl.SSLError:
                raise TLSError(
                    f"--ssl-ciphers {self.ciphers!r}: OpenSSL knows none of these ciphers"
                ) from None
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """(Re)load the certificate chain and key into ``ctx`` (new handshakes use them)."""
        _exists(self.certfile, "--ssl-certfile")
        if self.keyfile:
            _exists(self.keyfile, "--ssl-keyfile")
        key = self.keyfile or self.certfile
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile, self.password or _no_password(key))
        except ssl.SSLError as exc:
            reason = _why(exc)
            if self.password and _encrypted(key):
                raise TLSError(f"--ssl-keyfile-password: wrong password for {key}") from None
            if "KEY_VALUES_MISMATCH" in reason or "key values mismatch" in reason.lower():
                raise TLSError(
                    f"--ssl-keyfile {self.keyfile or self.certfile} does not belong to the "
                    f"certificate in --ssl-certfile {self.certfile}"
                ) from None
            if "BAD_DECRYPT" in reason or "bad decrypt" in reason.lower():
                raise TLSError(
                    f"--ssl-keyfile-password: wrong password for {self.keyfile or self.certfile}"
                ) from None
            if "PEM" in reason and not self.keyfile:
                raise TLSError(
                    f"--ssl-certfile {self.certfile}: no private key in it; give --ssl-keyfile"
                ) from None
            raise TLSError(
                f"--ssl-certfile {self.certfile} / --ssl-keyfile {self.keyfile}: cannot load the "
                f"certificate and key ({reason})"
            ) from None
        except OSError as exc:
            raise TLSError(f"--ssl-certfile {self.certfile}: {exc.strerror or exc}") from None


def _no_password(key: str) -> Callable[[], str]:
    """A password callback for a key given no password: never let OpenSSL prompt."""

    def refuse() -> str:
        raise TLSError(f"--ssl-keyfile {key} is encrypted: give --ssl-keyfile-password")

    return refuse


def _encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return b"ENCRYPTED" in file.read(1 << 20)
    except OSError:
        return False


def _exists(path: str, flag: str) -> None:
    if not os.path.isfile(path):
        raise TLSError(f"{flag}: no such file: {path!r}")
    if not os.access(path, os.R_OK):
        raise TLSError(f"{flag}: cannot read {path!r} (permissions)")


def _why(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.args[-1] if exc.args else exc)
