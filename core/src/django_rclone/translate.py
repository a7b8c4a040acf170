"""Translate django-dbbackup and django-snapshots settings into ``DJANGO_RCLONE``.

``translate(settings)`` reads the project's settings and returns a ``Translation``: one ``Finding``
per old setting (what it was, the equivalent ``DJANGO_RCLONE`` entry, the check id that reports
it), the complete ``DJANGO_RCLONE`` dict that results (the project's current ``DJANGO_RCLONE``
wins where both say something), and notes. ``render()`` prints that dict as Python that can be
pasted into settings.py; notes and the rclone remote suggestion are comments.

Secrets (``PASSWORD``, ``ADMIN_PASSWORD``, storage keys) are never printed unless asked: they are
replaced by a placeholder string that says where the value was.
"""

from __future__ import annotations

import os
import pprint
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django_rclone.legacy import translate_connector_path

#: Keys of a per-alias options dict whose values are secrets.
SECRET_KEYS = frozenset({"PASSWORD", "ADMIN_PASSWORD"})
#: Per-alias options holding environment variables, and the variable names that carry secrets.
ENV_KEYS = frozenset({"ENV", "DUMP_ENV", "RESTORE_ENV"})
SECRET_VARIABLE = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
#: A connection string with a password in it (``mongodb://user:pw@host``).
URI_WITH_PASSWORD = re.compile(r"://[^/@:\s]*:[^/@\s]+@")

#: django-dbbackup settings that only configure storage; they become ``REMOTE`` plus an rclone remote.
STORAGE_KEYS = ("DBBACKUP_STORAGE", "DBBACKUP_STORAGE_OPTIONS")

#: django-dbbackup settings with a direct ``DJANGO_RCLONE`` key.
DIRECT_KEYS = {
    "DBBACKUP_CLEANUP_KEEP": "DB_CLEANUP_KEEP",
    "DBBACKUP_DATE_FORMAT": "DB_DATE_FORMAT",
}

#: django-dbbackup settings without an equivalent key, and what to do instead.
NO_EQUIVALENT = {
    "DBBACKUP_CLEANUP_KEEP_MEDIA": "media backups are an incremental `rclone sync` (one copy); use "
    "`mediabackup --backup-dir` to keep replaced files",
    "DBBACKUP_GPG_RECIPIENT": "encrypt with an rclone `crypt` remote wrapped around the storage remote "
    "(docs/configuration.md); django-rclone does not run gpg",
    "DBBACKUP_GPG_ALWAYS_TRUST": "see DBBACKUP_GPG_RECIPIENT: use an rclone `crypt` remote",
    "DBBACKUP_HOSTNAME": "pass `dbbackup --servername NAME` and put {servername} in DB_FILENAME_TEMPLATE "
    "(it defaults to this machine's host name)",
    "DBBACKUP_MEDIA_FILENAME_TEMPLATE": "media is synced file by file to MEDIA_BACKUP_DIR, not archived",
    "DBBACKUP_MEDIA_PATH": "mediabackup reads MEDIA_ROOT",
    "DBBACKUP_SEND_EMAIL": "connect a receiver to the `db_backup_failed` signal (docs/signals.md)",
    "DBBACKUP_ADMINS": "connect a receiver to the `db_backup_failed` signal (docs/signals.md)",
    "DBBACKUP_EMAIL_SUBJECT_PREFIX": "connect a receiver to the `db_backup_failed` signal (docs/signals.md)",
    "DBBACKUP_SERVER_EMAIL": "connect a receiver to the `db_backup_failed` signal (docs/signals.md)",
    "DBBACKUP_TMP_DIR": "not needed: dumps stream to rclone without temporary files",
    "DBBACKUP_TMP_FILE_MAX_SIZE": "not needed: dumps stream to rclone without temporary files",
    "DBBACKUP_TMP_FILE_READ_SIZE": "STREAM_CHUNK_SIZE sets rclone's upload chunk size, if needed",
}

#: django-dbbackup filename template fields and ours.
TEMPLATE_FIELDS = {"databasename": "database", "extension": "ext", "servername": "servername", "datetime": "datetime"}

#: Django storage backends and the rclone backend that reaches the same place.
S3_BACKENDS = frozenset({"storages.backends.s3boto3.S3Boto3Storage", "storages.backends.s3.S3Storage"})
FILESYSTEM_BACKENDS = frozenset(
    {"django.core.files.storage.FileSystemStorage", "django.core.files.storage.filesystem.FileSystemStorage"}
)
OTHER_BACKENDS = {
    "storages.backends.gcloud.GoogleCloudStorage": ("google cloud storage", "bucket_name"),
    "storages.backends.azure_storage.AzureStorage": ("azureblob", "azure_container"),
    "storages.backends.sftpstorage.SFTPStorage": ("sftp", "root_path"),
    "storages.backends.dropbox.DropBoxStorage": ("dropbox", "root_path"),
}

REMOTE_NAME = "dbbackup"
REMOTE_PLACEHOLDER = "myremote:backups"


@dataclass(frozen=True)
class Finding:
    """One old setting found, and its ``DJANGO_RCLONE`` equivalent."""

    setting: str
    check_id: str
    message: str
    equivalent: str


@dataclass
class Translation:
    """The result of ``translate()``."""

    findings: list[Finding] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rclone_config: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def render(self) -> str:
        """``DJANGO_RCLONE = {...}`` as Python, with notes and the rclone suggestion as comments."""
        lines = []
        if self.sources:
            lines.append(f"# Translated from {', '.join(self.sources)} by `manage.py translatesettings`.")
            lines.append("# Review it, replace it in settings.py, then delete the old settings.")
        lines.append("DJANGO_RCLONE = " + pprint.pformat(self.result, indent=4, width=100, sort_dicts=False))
        if self.rclone_config:
            lines.append("")
            lines += [f"# {line}".rstrip() for line in self.rclone_config]
        if self.notes:
            lines.append("")
            lines.append("# Notes:")
            lines += [f"# - {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _literal(value: Any, origin: str, notes: list[str]) -> Any:
    """``value`` as plain Python literals (``repr`` must be valid Python); paths become strings."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _literal(v, f"{origin}[{k!r}]", notes) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_literal(v, origin, notes) for v in value]
    notes.append(f"{origin} is a {type(value).__name__}, which cannot be written as a setting here; copy it by hand.")
    return f"<not translated: copy {origin}>"


def _connector_entry(value: Any, origin: str, notes: list[str]) -> Any:
    """A CONNECTOR value (path, class, instance) as something ``DJANGO_RCLONE`` accepts and prints."""
    if isinstance(value, str):
        return translate_connector_path(value) or value
    cls = value if isinstance(value, type) else type(value)
    path = f"{cls.__module__}.{cls.__qualname__}"
    ours = translate_connector_path(path)
    if ours:
        return ours
    if not isinstance(value, type):
        notes.append(
            f"{origin} is an instance of {path}; it is written as the class's dotted path, which django-rclone "
            "builds with no arguments. Pass any constructor arguments through a subclass."
        )
    return path


def _options(entry: Mapping[str, Any], origin: str, notes: list[str], show_secrets: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in entry.items():
        key = str(key)
        if key == "CONNECTOR":
            options[key] = _connector_entry(value, f"{origin}['CONNECTOR']", notes)
        elif key in SECRET_KEYS and value and not show_secrets:
            options[key] = f"<secret: copy {origin}[{key!r}]>"
        elif isinstance(value, str) and URI_WITH_PASSWORD.search(value) and not show_secrets:
            options[key] = f"<secret: copy {origin}[{key!r}], a connection string with a password>"
        elif key in ENV_KEYS and isinstance(value, Mapping) and not show_secrets:
            options[key] = {
                str(name): f"<secret: copy {origin}[{key!r}][{name!r}]>"
                if SECRET_VARIABLE.search(str(name))
                else _literal(val, f"{origin}[{key!r}][{name!r}]", notes)
                for name, val in value.items()
            }
        else:
            options[key] = _literal(value, f"{origin}[{key!r}]", notes)
    return options


def _equivalent(key: str, value: Any) -> str:
    return f"DJANGO_RCLONE[{key!r}] = {value!r}"


def _translate_template(template: Any, notes: list[str]) -> str | None:
    import string

    if not isinstance(template, str):
        notes.append("DBBACKUP_FILENAME_TEMPLATE is a callable; write DB_FILENAME_TEMPLATE as a format string.")
        return None
    out = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            notes.append(f"DBBACKUP_FILENAME_TEMPLATE uses {{{name}}}, which has no equivalent; it is not translated.")
            return None
        out.append(
            "{" + TEMPLATE_FIELDS[name] + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        )
    result = "".join(out)
    if not result.startswith("{database}"):
        notes.append(
            f"DBBACKUP_FILENAME_TEMPLATE {template!r} does not start with the database; DB_FILENAME_TEMPLATE must "
            "start with '{database}', so it is not translated."
        )
        return None
    notes.append(
        "DB_FILENAME_TEMPLATE's {database} is the DATABASES alias, where django-dbbackup's {databasename} was "
        "the database NAME."
    )
    return result


def _storage(settings: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(origin, backend path, options) of the django-dbbackup storage, if one is configured."""
    storages = getattr(settings, "STORAGES", None)
    if isinstance(storages, Mapping) and isinstance(storages.get("dbbackup"), Mapping):
        entry = storages["dbbackup"]
        options = entry.get("OPTIONS")
        return (
            "STORAGES['dbbackup']",
            str(entry.get("BACKEND", "")),
            dict(options) if isinstance(options, Mapping) else {},
        )
    backend = getattr(settings, "DBBACKUP_STORAGE", None)
    options = getattr(settings, "DBBACKUP_STORAGE_OPTIONS", None)
    if backend is None and options is None:
        return None
    backend = backend or "django.core.files.storage.FileSystemStorage"
    return "DBBACKUP_STORAGE", str(backend), dict(options) if isinstance(options, Mapping) else {}


def _remote_for_storage(backend: str, options: Mapping[str, Any], config: list[str], notes: list[str]) -> str:
    """The REMOTE for a Django storage, with a commented rclone remote suggestion in ``config``."""
    location = str(options.get("location") or "").strip("/")
    if backend in FILESYSTEM_BACKENDS:
        folder = str(options.get("location") or "")
        if not folder:
            notes.append("the FileSystemStorage has no 'location'; set REMOTE to the folder of your backups.")
            return REMOTE_PLACEHOLDER
        config.append(
            f"REMOTE is the same local folder ({os.path.abspath(folder)}); it needs no rclone remote. "
            "For copies off this machine, configure one (`rclone config`) and point REMOTE at it."
        )
        return os.path.abspath(folder)
    if backend in S3_BACKENDS:
        bucket = str(options.get("bucket_name") or "BUCKET")
        endpoint = options.get("endpoint_url")
        config += [
            "Suggested rclone remote for the S3 storage (rclone.conf, see `rclone config file`):",
            f"[{REMOTE_NAME}]",
            "type = s3",
            f"provider = {'Other' if endpoint else 'AWS'}",
        ]
        if options.get("region_name"):
            config.append(f"region = {options['region_name']}")
        if endpoint:
            config.append(f"endpoint = {endpoint}")
        if options.get("access_key") or options.get("secret_key"):
            prefix = f"RCLONE_CONFIG_{REMOTE_NAME.upper()}"
            config += [
                "# keys: set them in the environment rclone runs with (DJANGO_RCLONE['RCLONE_ENV']),",
                f"# {prefix}_ACCESS_KEY_ID and {prefix}_SECRET_ACCESS_KEY, not in this file or in settings",
            ]
        else:
            config.append("env_auth = true")
        return f"{REMOTE_NAME}:{bucket}" + (f"/{location}" if location else "")
    if backend in OTHER_BACKENDS:
        kind, key = OTHER_BACKENDS[backend]
        where = str(options.get(key) or "PATH").strip("/")
        config += [
            f"Suggested rclone remote: run `rclone config` and create a {kind!r} remote named {REMOTE_NAME!r}",
            f"with the same account; REMOTE below then reaches {where!r}.",
        ]
        return f"{REMOTE_NAME}:{where}" + (f"/{location}" if location and location != where else "")
    notes.append(f"storage {backend!r} has no suggestion here; configure an rclone remote that reaches it.")
    return REMOTE_PLACEHOLDER


def translate(
    settings: Any, *, dbbackup: bool = True, snapshots: bool = True, show_secrets: bool = False
) -> Translation:
    """Translate the project's django-dbbackup / django-snapshots settings (see the module docstring)."""
    out = Translation()
    current = getattr(settings, "DJANGO_RCLONE", None)
    current = dict(current) if isinstance(current, Mapping) else {}
    result: dict[str, Any] = {"REMOTE": current.get("REMOTE") or REMOTE_PLACEHOLDER}
    notes = out.notes
    # The current DJANGO_RCLONE wins, with any old connector path in it rewritten (check W106).
    connectors: dict[str, Any] = {}
    for alias, entry in dict(current.get("CONNECTORS") or {}).items():
        if isinstance(entry, str):
            connectors[alias] = translate_connector_path(entry) or entry
        elif isinstance(entry, Mapping) and isinstance(entry.get("CONNECTOR"), str):
            connectors[alias] = {
                **entry,
                "CONNECTOR": translate_connector_path(entry["CONNECTOR"]) or entry["CONNECTOR"],
            }
        else:
            connectors[alias] = entry
    mapping: dict[str, Any] = {
        engine: (translate_connector_path(target) or target) if isinstance(target, str) else target
        for engine, target in dict(current.get("CONNECTOR_MAPPING") or {}).items()
    }

    if dbbackup:
        old_connectors = getattr(settings, "DBBACKUP_CONNECTORS", None)
        if isinstance(old_connectors, Mapping) and old_connectors:
            out.sources.append("DBBACKUP_CONNECTORS")
            for alias, entry in old_connectors.items():
                origin = f"DBBACKUP_CONNECTORS[{alias!r}]"
                options = _options(entry, origin, notes, show_secrets) if isinstance(entry, Mapping) else entry
                kept = alias in connectors
                connectors.setdefault(alias, options)
                lost = [k for k in ("HOST", "PORT", "USER", "NAME") if isinstance(entry, Mapping) and k in entry]
                message = f"{origin} is not read by django-rclone"
                if kept:
                    message += f"; DJANGO_RCLONE['CONNECTORS'][{alias!r}] is used instead: delete the old setting"
                elif lost:
                    message += (
                        f": backups of {alias!r} ignore its {', '.join(lost)} override and connect as DATABASES says"
                    )
                shown = _options(entry, origin, [], False) if isinstance(entry, Mapping) else entry
                out.findings.append(
                    Finding(
                        origin, "django_rclone.W101", message, f"DJANGO_RCLONE['CONNECTORS'][{alias!r}] = {shown!r}"
                    )
                )
        old_mapping = getattr(settings, "DBBACKUP_CONNECTOR_MAPPING", None)
        if isinstance(old_mapping, Mapping) and old_mapping:
            out.sources.append("DBBACKUP_CONNECTOR_MAPPING")
            for engine, path in old_mapping.items():
                ours = _connector_entry(path, f"DBBACKUP_CONNECTOR_MAPPING[{engine!r}]", notes)
                mapping.setdefault(engine, ours)
                out.findings.append(
                    Finding(
                        f"DBBACKUP_CONNECTOR_MAPPING[{engine!r}]",
                        "django_rclone.W102",
                        f"DBBACKUP_CONNECTOR_MAPPING[{engine!r}] is not read by django-rclone",
                        f"DJANGO_RCLONE['CONNECTOR_MAPPING'][{engine!r}] = {ours!r}",
                    )
                )
        storage = _storage(settings)
        if storage is not None:
            origin, backend, options = storage
            out.sources.append(origin)
            remote = _remote_for_storage(backend, options, out.rclone_config, notes)
            if "REMOTE" not in current:
                result["REMOTE"] = remote
            out.findings.append(
                Finding(
                    origin,
                    "django_rclone.W103",
                    f"{origin} ({backend}) is not read by django-rclone, which writes to DJANGO_RCLONE['REMOTE'] "
                    "through rclone",
                    _equivalent("REMOTE", remote) + "  (run `manage.py translatesettings` for the rclone remote)",
                )
            )
        for key in sorted(name for name in dir(settings) if name.startswith("DBBACKUP_")):
            if key in ("DBBACKUP_CONNECTORS", "DBBACKUP_CONNECTOR_MAPPING", *STORAGE_KEYS):
                continue
            value = getattr(settings, key)
            out.sources.append(key)
            if key in DIRECT_KEYS:
                ours_key = DIRECT_KEYS[key]
                value = _literal(value, key, notes)
                current.setdefault(ours_key, value)
                equivalent = _equivalent(ours_key, value)
            elif key == "DBBACKUP_FILENAME_TEMPLATE":
                template = _translate_template(value, notes)
                if template is not None:
                    current.setdefault("DB_FILENAME_TEMPLATE", template)
                equivalent = _equivalent("DB_FILENAME_TEMPLATE", template) if template else "none (see the notes)"
            else:
                hint = NO_EQUIVALENT.get(key, "django-rclone has no such setting")
                notes.append(f"{key}: {hint}.")
                equivalent = f"none: {hint}"
            out.findings.append(
                Finding(key, "django_rclone.W104", f"{key} is a django-dbbackup setting, not read here", equivalent)
            )

    if snapshots:
        snap = getattr(settings, "SNAPSHOTS", None)
        if isinstance(snap, Mapping) and isinstance(snap.get("DATABASE_CONNECTORS"), Mapping):
            out.sources.append("SNAPSHOTS['DATABASE_CONNECTORS']")
            for alias, value in dict(snap["DATABASE_CONNECTORS"]).items():
                origin = f"SNAPSHOTS['DATABASE_CONNECTORS'][{alias!r}]"
                entry = "auto" if value == "auto" else _connector_entry(value, origin, notes)
                kept = alias in connectors
                connectors.setdefault(alias, entry)
                message = f"{origin} is not read by django-rclone"
                if kept:
                    message += f"; DJANGO_RCLONE['CONNECTORS'][{alias!r}] is used instead: delete the old setting"
                out.findings.append(
                    Finding(
                        origin, "django_rclone.W105", message, f"DJANGO_RCLONE['CONNECTORS'][{alias!r}] = {entry!r}"
                    )
                )
            others = sorted(str(k) for k in snap if k != "DATABASE_CONNECTORS")
            if others:
                notes.append(f"SNAPSHOTS keys {others} are not translated; see docs/migration-from-snapshots.md.")

    for key, value in current.items():
        if key not in ("REMOTE", "CONNECTORS", "CONNECTOR_MAPPING"):
            result[key] = value
    if connectors:
        result["CONNECTORS"] = connectors
    if mapping:
        result["CONNECTOR_MAPPING"] = mapping
    if result["REMOTE"] == REMOTE_PLACEHOLDER:
        notes.append(f"REMOTE is a placeholder ({REMOTE_PLACEHOLDER!r}): set it to an rclone remote and folder.")
    out.result = result
    return out
