"""squall's web framework layer (private): handlers and routing over the httputil contract."""

from __future__ import annotations
