"""OpenIdMixin: OpenID 2.0 login with Attribute Exchange (``check_authentication``)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from squall._auth.provider import (
    AuthError,
    as_handler,
    body_text,
    endpoint_name,
    provider_fetch,
    required_url,
)
from squall.escape import to_unicode
from squall.httpclient import AsyncHTTPClient
from squall.httputil import url_concat

_OPENID_NS = "http://specs.openid.net/auth/2.0"
_OPENID_SELECT = "http://specs.openid.net/auth/2.0/identifier_select"
_AX_NS = "http://openid.net/srv/ax/1.0"
_OAUTH_EXT_NS = "http://specs.openid.net/extensions/oauth/1.0"
# Attribute Exchange: the names ax_attrs takes -> (alias, type URI) pairs requested for each.
_AX_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "name": (
        ("firstname", "http://axschema.org/namePerson/first"),
        ("fullname", "http://axschema.org/namePerson"),
        ("lastname", "http://axschema.org/namePerson/last"),
    ),
    "email": (("email", "http://axschema.org/contact/email"),),
    "language": (("language", "http://axschema.org/pref/language"),),
    "username": (("username", "http://axschema.org/namePerson/friendly"),),
}
_DEFAULT_AX_ATTRS = ("name", "email", "language", "username")


class OpenIdMixin:
    """OpenID 2.0 login with Attribute Exchange, against the provider at ``_OPENID_ENDPOINT``.

    ``authenticate_redirect()`` sends the browser to the provider; the provider sends it back
    to the callback URL with ``openid.*`` arguments, where ``get_authenticated_user()`` asks
    the provider to confirm them (``check_authentication``) and returns the user.
    """

    _OPENID_ENDPOINT = ""

    def authenticate_redirect(
        self, callback_uri: str | None = None, ax_attrs: Iterable[str] = _DEFAULT_AX_ATTRS
    ) -> None:
        """Redirect to the provider to log in, asking for the ``ax_attrs`` of the user.

        The provider comes back to ``callback_uri`` (relative to this request; default: this
        request's URI) with ``openid.mode`` among the arguments. ``ax_attrs`` picks from
        "name", "email", "language" and "username" (all by default); another name raises
        ValueError. Synchronous: it returns None."""
        handler = as_handler(self)
        args = self._openid_args(callback_uri or handler.request.uri, ax_attrs=ax_attrs)
        handler.redirect(url_concat(required_url(self, "_OPENID_ENDPOINT"), args))

    async def get_authenticated_user(
        self, http_client: AsyncHTTPClient | None = None
    ) -> dict[str, Any]:
        """Confirm the provider's answer on this callback request and return the user.

        The dict has whichever of ``name``, ``first_name``, ``last_name``, ``email``,
        ``locale``, ``username`` and ``claimed_id`` the provider gave (``name`` falls back to
        first and last name, then to the part of the email before the ``@``). Raises
        :class:`AuthError` when the provider does not confirm the assertion, and
        :class:`AuthProviderError` when it answers with an HTTP error."""
        handler = as_handler(self)
        args = {name: to_unicode(values[-1]) for name, values in handler.request.arguments.items()}
        args["openid.mode"] = "check_authentication"
        client = http_client or self.get_auth_http_client()
        url = required_url(self, "_OPENID_ENDPOINT")
        response = await provider_fetch(
            client, "OpenID verification", url, method="POST",
            body=urllib.parse.urlencode(args),
        )  # fmt: skip
        # OpenID 2.0 §4.1.1 key-value form: one "key:value" per line.
        fields = dict(
            line.partition(":")[::2]
            for line in body_text(response, "OpenID verification").splitlines()
            if ":" in line
        )
        if fields.get("is_valid", "").strip() != "true":
            raise AuthError(
                f"OpenID verification: {endpoint_name(url)} did not confirm the login "
                f"(is_valid:{fields.get('is_valid', ' missing').strip()})"
            )
        return self._openid_user(args)

    def _openid_args(
        self,
        callback_uri: str,
        ax_attrs: Iterable[str] = (),
        oauth_scope: str | None = None,
    ) -> dict[str, str]:
        """The ``openid.*`` arguments of a checkid_setup request (OpenID 2.0 §9.1), with an
        Attribute Exchange fetch request and, given ``oauth_scope``, the OAuth extension."""
        request = as_handler(self).request
        return_to = urllib.parse.urljoin(request.full_url(), callback_uri)
        args = {
            "openid.ns": _OPENID_NS,
            "openid.claimed_id": _OPENID_SELECT,
            "openid.identity": _OPENID_SELECT,
            "openid.return_to": return_to,
            "openid.realm": urllib.parse.urljoin(return_to, "/"),
            "openid.mode": "checkid_setup",
        }
        requested: list[tuple[str, str]] = []
        for attr in ax_attrs:
            if attr not in _AX_TYPES:
                raise ValueError(
                    f"unknown OpenID attribute {attr!r}; ax_attrs takes {', '.join(_AX_TYPES)}"
                )
            requested.extend(_AX_TYPES[attr])
        if requested:
            args["openid.ns.ax"] = _AX_NS
            args["openid.ax.mode"] = "fetch_request"
            for alias, type_uri in requested:
                args[f"openid.ax.type.{alias}"] = type_uri
            args["openid.ax.required"] = ",".join(alias for alias, _ in requested)
        if oauth_scope:
            args["openid.ns.oauth"] = _OAUTH_EXT_NS
            args["openid.oauth.consumer"] = request.host.split(":")[0]
            args["openid.oauth.scope"] = oauth_scope
        return args

    @staticmethod
    def _openid_user(args: Mapping[str, str]) -> dict[str, Any]:
        """The user described by the Attribute Exchange values among the callback's args."""
        alias = next(
            (name[len("openid.ns.") :] for name, value in args.items()
             if name.startswith("openid.ns.") and value == _AX_NS),
            None,
        )  # fmt: skip

        def value_of(type_uri: str) -> str:
            if alias is None:
                return ""
            prefix = f"openid.{alias}.type."
            for name, value in args.items():
                if name.startswith(prefix) and value == type_uri:
                    field = name[len(prefix) :]
                    single = args.get(f"openid.{alias}.value.{field}")
                    # AX 1.0 §5.2: a counted attribute carries .value.<field>.1, .2, ...
                    return (
                        single
                        if single is not None
                        else args.get(f"openid.{alias}.value.{field}.1", "")
                    )
            return ""

        email = value_of("http://axschema.org/contact/email")
        first = value_of("http://axschema.org/namePerson/first")
        last = value_of("http://axschema.org/namePerson/last")
        name = value_of("http://axschema.org/namePerson") or " ".join(p for p in (first, last) if p)
        user = {
            "first_name": first,
            "last_name": last,
            "name": name or email.split("@")[0],
            "email": email,
            "locale": value_of("http://axschema.org/pref/language").lower(),
            "username": value_of("http://axschema.org/namePerson/friendly"),
            "claimed_id": args.get("openid.claimed_id", ""),
        }
        return {key: value for key, value in user.items() if value}

    def get_auth_http_client(self) -> AsyncHTTPClient:
        """The HTTP client used to talk to the provider: ``AsyncHTTPClient()`` unless
        overridden (for example to set default timeouts or a test client)."""
        return AsyncHTTPClient()
