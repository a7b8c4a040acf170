"""Backup names: rendering ``DB_FILENAME_TEMPLATE`` and parsing names back.

Names are rendered in UTC so they sort the same across daylight-saving changes. Parsing builds a
regular expression from the template and the date format, so ``listbackups`` never guesses which
part of ``my-db-2024-01-15-120000.dump`` is the alias.
"""

from __future__ import annotations

import re
import socket
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from django_rclone.exceptions import UnsafePath

if TYPE_CHECKING:
    from django_rclone.conf import RcloneSettings

MANIFEST_SUFFIX = ".manifest.json"
#: Marker objects of a run in progress end with this.
PENDING_SUFFIX = ".pending"
#: Endings of objects the core writes beside backups; no backup name may end with one
#: (``DB_FILENAME_TEMPLATE`` is checked against this list).
RESERVED_SUFFIXES = (MANIFEST_SUFFIX, PENDING_SUFFIX)
#: Names ending so are django-dbbackup's GPG files (``gpg.SUFFIX``): restores decrypt them, so no
#: new backup may be named so.
ENCRYPTED_SUFFIX = ".gpg"
#: A run's claim on a name while it uploads: ``<name>.<run id>.pending`` (see ``operations.backup``).
MARKER_SUFFIX = PENDING_SUFFIX
_MARKER = re.compile(r"^(?P<name>.+)\.(?P<run>[0-9a-f]{32})" + re.escape(MARKER_SUFFIX) + "$")

_DIRECTIVES = {
    "Y": r"\d{4}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "f": r"\d{6}",
    "y": r"\d{2}",
    "j": r"\d{3}",
    "z": r"[+-]\d{4}",
    "%": "%",
}


@dataclass(frozen=True)
class ParsedName:
    database: str
    timestamp: datetime
    ext: str
    servername: str = ""


def _date_regex(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_DIRECTIVES.get(fmt[i + 1], r".+?"))
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


@lru_cache(maxsize=128)
def _name_regex(template: str, date_format: str, database: str | None = None) -> re.Pattern[str]:
    groups = {
        "database": r"(?P<database>.+?)" if database is None else f"(?P<database>{re.escape(database)})",
        "datetime": f"(?P<datetime>{_date_regex(date_format)})",
        "ext": r"(?P<ext>[^/]+)",
        "servername": r"(?P<servername>.*?)",
    }
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(groups[name] if f"(?P<{name}>" not in "".join(parts) else f"(?P={name})")
    return re.compile("^" + "".join(parts) + "$")


def render(conf: RcloneSettings, database: str, ext: str, when: datetime, servername: str = "") -> str:
    """The object name for a new backup."""
    stamp = when.astimezone(timezone.utc).strftime(conf.db_date_format)
    name = conf.db_filename_template.format(
        database=database, datetime=stamp, ext=ext, servername=servername or socket.gethostname()
    )
    return check_new_name(name)


def check_new_name(name: str) -> str:
    """``check_name`` plus: a new backup's name never ends like a manifest or a run marker."""
    check_name(name)
    if is_reserved(name):
        raise UnsafePath(
            f"{name!r} ends in {', '.join(repr(s) for s in RESERVED_SUFFIXES)}, which django-rclone keeps for "
            "its own bookkeeping; choose another name (or another extension / servername)"
        )
    if name.endswith(ENCRYPTED_SUFFIX):
        raise UnsafePath(
            f"{name!r} ends in {ENCRYPTED_SUFFIX!r}, which marks django-dbbackup's GPG-encrypted files (a restore "
            "would try to decrypt it); choose another name (or another extension)"
        )
    return name


def is_reserved(filename: str) -> bool:
    """A manifest or a run marker: bookkeeping, never a backup."""
    return filename.endswith(RESERVED_SUFFIXES)


def marker_name(name: str, run_id: str) -> str:
    """The claim a run writes beside ``name`` before uploading it."""
    return f"{name}.{run_id}{MARKER_SUFFIX}"


def split_marker(filename: str) -> tuple[str, str] | None:
    """``(backup name, run id)`` of a run marker, or ``None`` if ``filename`` is not one."""
    match = _MARKER.match(filename)
    return (match["name"], match["run"]) if match else None


def parse(conf: RcloneSettings, name: str, database: str | None = None) -> ParsedName | None:
    """Split a backup name into its parts, or ``None`` if it was not made by this template.

    With ``database``, only a reading in which that alias is the database part counts (a name of
    ``other-b`` can also read as ``other`` when the template puts a free field after it).
    """
    if is_reserved(name):
        return None
    match = _name_regex(conf.db_filename_template, conf.db_date_format, database).match(name)
    if not match:
        return None
    try:
        stamp = datetime.strptime(match["datetime"], conf.db_date_format)
    except ValueError:
        return None
    groups = match.groupdict()
    return ParsedName(
        database=groups["database"],
        timestamp=stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp,
        ext=groups.get("ext") or "",
        servername=groups.get("servername") or "",
    )


def owner(conf: RcloneSettings, name: str, aliases: Iterable[str]) -> str | None:
    """The alias a name without a manifest belongs to: the one alias of ``aliases`` it reads as,
    else the database part of the template's reading (an alias no longer configured); ``None`` if
    the name was not made by the template."""
    readings = [alias for alias in aliases if parse(conf, name, alias) is not None]
    if len(readings) == 1:
        return readings[0]
    parsed = parse(conf, name)
    return parsed.database if parsed else None


#: Sample values for the ambiguity probe; an alias's name must not read as another alias's.
_PROBE_SERVERS = ("host", "")
_PROBE_EXT = "dump"
_PROBE_TIME = datetime(2024, 1, 15, 12, 0, 5, tzinfo=timezone.utc)


def ambiguous_aliases(template: str, date_format: str, aliases: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs ``(a, b)`` where a backup name of alias ``a`` also reads as a name of ``b``.

    A template with a free field next to ``{database}`` (``{database}-{servername}-...``) lets the
    aliases ``other`` and ``other-b`` produce the same names; such templates are refused
    (``conf.load_settings``) because nothing could tell whose backup a name is.
    """
    known = sorted(set(aliases))
    found = []
    for a in known:
        for b in known:
            if a == b:
                continue
            for server in _PROBE_SERVERS:
                stamp = _PROBE_TIME.strftime(date_format)
                sample = template.format(database=a, datetime=stamp, ext=_PROBE_EXT, servername=server)
                if _name_regex(template, date_format, b).match(sample):
                    found.append((a, b))
                    break
    return found


def check_name(name: str) -> str:
    """Refuse a name that could leave the backup folder (``..``, ``/``, ``remote:``)."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or ":" in name
        or name.startswith("-")
        or any(ord(c) < 32 for c in name)
    ):
        raise UnsafePath(
            f"{name!r} is not a plain backup name: give the file name only, as `listbackups` prints it "
            "(no folders, '..', ':' or a leading '-')"
        )
    return name


def manifest_name(name: str) -> str:
    return name + MANIFEST_SUFFIX
