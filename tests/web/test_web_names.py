"""Names squall.web exports for Tornado code beyond the handler API: UIModule, the signed-value
helpers (get_signature_key_version, and the v1/v2 signature functions Tornado's tests use)."""

from __future__ import annotations

import re

from squall import web
from squall._web.uimodules import UIModule


def test_signature_helpers_give_tornados_values() -> None:
    # Values computed with Tornado 6.6.1's own functions.
    assert web._create_signature_v1("s", b"a", "b") == b"7ae2134cb4d5b516998d78b1273e58fa27a30822"
    assert web._create_signature_v2(b"s", b"x") == (
        b"cefb105ee22996fb167ed606478d2931b87aa3ab99b4b04b68c4fc16c8b49a30"
    )


def test_signature_helpers_check_values_signed_by_create_signed_value() -> None:
    v1 = web.create_signed_value("secret", "name", "value", version=1, clock=lambda: 1_000)
    payload, timestamp, signature = v1.split(b"|")
    assert web._create_signature_v1("secret", "name", payload, timestamp) == signature
    v2 = web.create_signed_value("secret", "name", "value", version=2)
    prefix, _, signature = v2.rpartition(b"|")
    assert web._create_signature_v2("secret", prefix + b"|") == signature
    assert re.fullmatch(rb"[0-9a-f]{64}", signature)


def test_key_version_and_uimodule_are_exported() -> None:
    signed = web.create_signed_value({0: "a", 1: "b"}, "n", "v", key_version=1)
    assert web.get_signature_key_version(signed) == 1
    assert web.UIModule is UIModule
    assert {"UIModule", "get_signature_key_version"} <= set(web.__all__)
