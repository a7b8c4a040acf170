"""The YAML ``--config`` file of the MongoDB Database Tools.

mongodump and mongorestore (100.3.0 and later) read ``--config=<file>``, a YAML mapping whose only
accepted keys are ``password``, ``uri`` and ``sslPEMKeyPassword`` (the tools reject unknown keys).
It is how a password or a connection string with credentials reaches the tools without appearing
in the process list.

Values are written as YAML double-quoted scalars in which every character that YAML could fold,
reject or misread is escaped as ``\\uXXXX``. That subset of the syntax is also a valid JSON string,
so the file reads back the same with any YAML 1.1/1.2 parser (the tools use Go's yaml.v2) and with
``json.loads``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Keys the tools accept in a --config file.
KEYS = frozenset({"password", "uri", "sslPEMKeyPassword"})

# Characters YAML treats as line breaks or byte-order marks, or does not allow in a document.
_SPECIAL = frozenset({0x85, 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF})


def quote(value: str) -> str:
    """Return ``value`` as a YAML double-quoted scalar that round-trips exactly.

    Raises ``ValueError`` for lone surrogates, which no UTF-8 file can hold.
    """
    out = ['"']
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("a lone surrogate cannot be written to the tools' config file")
        elif code >= 0xA0 and code not in _SPECIAL:
            out.append(char)
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def render(entries: Mapping[str, str]) -> str:
    """The text of a config file holding ``entries`` (empty values are left out)."""
    unknown = set(entries) - KEYS
    if unknown:
        raise ValueError(f"the MongoDB tools do not accept {sorted(unknown)} in a --config file")
    return "".join(f"{key}: {quote(value)}\n" for key, value in entries.items() if value)
