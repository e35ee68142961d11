"""Compile a small gettext ``.po`` text to ``.mo`` bytes (standard library only), for tests.

Handles what the locale tests use: ``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` and
``msgstr[N]``, strings continued on following lines, comments and the header entry. The
``.mo`` layout is GNU gettext's: a little-endian header, two tables of (length, offset) for
the sorted original and translated strings, then the NUL-terminated strings."""

from __future__ import annotations

import ast
import struct


def parse_po(text: str) -> dict[str, str]:
    """``{key: translation}`` as a .mo stores them: ``ctx\\x04msgid`` for a context,
    ``singular\\x00plural`` keys with ``form0\\x00form1`` values for plurals."""
    entries: dict[str, str] = {}
    fields: dict[str, str] = {}
    current: str | None = None

    def flush() -> None:
        if "msgid" not in fields:
            return
        key = fields["msgid"]
        if "msgid_plural" in fields:
            key += "\x00" + fields["msgid_plural"]
            forms = sorted(k for k in fields if k.startswith("msgstr["))
            value = "\x00".join(fields[k] for k in forms)
        else:
            value = fields.get("msgstr", "")
        if "msgctxt" in fields:
            key = fields["msgctxt"] + "\x04" + key
        entries[key] = value

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith('"'):
            if current is None:
                raise ValueError(f"string continuation without a keyword: {raw!r}")
            fields[current] += ast.literal_eval(line)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and "msgstr" in "".join(fields):
            flush()
            fields = {}
        current = keyword
        fields[keyword] = ast.literal_eval(rest)
    flush()
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """The ``.mo`` bytes for ``parse_po``'s entries."""
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    count = len(keys)
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + count * 8
    data_start = strs_table + count * 8
    data = bytearray()
    id_entries, str_entries = [], []
    for blob, table in ((ids, id_entries), (strs, str_entries)):
        for item in blob:
            table.append((len(item), data_start + len(data)))
            data += item + b"\x00"
    out = struct.pack("<7I", 0x950412DE, 0, count, ids_table, strs_table, 0, 0)
    for length, offset in id_entries + str_entries:
        out += struct.pack("<2I", length, offset)
    return out + bytes(data)
