"""Restoring django-dbbackup's GPG-encrypted backups (``NAME.gpg``, ``NAME.gz.gpg``).

django-rclone never encrypts by itself: new backups are encrypted by an rclone ``crypt`` remote.
Files that django-dbbackup encrypted with ``--encrypt`` (GPG, to ``DBBACKUP_GPG_RECIPIENT``) can
still be restored: a ``.gpg`` name puts ``gpg --decrypt`` between ``rclone cat`` and the rest of
the restore stream (codec stage, restore guard, restore tool), so nothing is decrypted to disk.

The user gives the key: the secret key must be in gpg's keyring (``GPG["HOME"]``, else gpg's own
default, ``GNUPGHOME`` or ``~/.gnupg``), and its passphrase, if it has one, comes from
``GPG["PASSPHRASE"]`` through a pipe (``--passphrase-fd``), never the command line. gpg checks the
message's integrity code itself (a modified or truncated file makes it exit non-zero), and the
restore tool receives its end of input only after gpg and ``rclone cat`` both exited 0.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django_rclone.exceptions import DjangoRcloneError
from django_rclone.names import ENCRYPTED_SUFFIX
from django_rclone.pipeline import Stage
from django_rclone.secrecy import scrub

SUFFIX = ENCRYPTED_SUFFIX
KEYS = ("BINARY", "HOME", "PASSPHRASE")


@dataclass(frozen=True)
class GpgSettings:
    """The ``GPG`` setting: how encrypted django-dbbackup files are decrypted."""

    binary: str = "gpg"
    home: str | None = None
    passphrase: str | None = field(default=None, repr=False)


def parse(value: Any) -> GpgSettings:
    """``GPG``: a dict with ``BINARY`` (default ``"gpg"``), ``HOME`` and ``PASSPHRASE`` (strings or
    None). ``ValueError`` names what is wrong (never the passphrase)."""
    if value is None:
        return GpgSettings()
    if not isinstance(value, Mapping):
        raise ValueError(f"is a {type(value).__name__}, not a dict")
    unknown = [key for key in value if key not in KEYS]
    if unknown:
        raise ValueError(f"has the unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    for key in KEYS:
        item = value.get(key)
        if item is not None and (not isinstance(item, str) or not item.strip() or "\0" in item or "\n" in item):
            shown = "(not shown)" if key == "PASSPHRASE" else repr(item)
            raise ValueError(f"has {key} {shown}, which is not a non-empty one-line string or None")
    return GpgSettings(
        binary=value.get("BINARY") or "gpg",
        home=value.get("HOME"),
        passphrase=value.get("PASSPHRASE"),
    )


def is_encrypted(name: str) -> bool:
    """Whether backup ``name`` (or a remote path) is a GPG file by its name."""
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX)


def strip(ext: str) -> str:
    """``"dump.gz.gpg"`` -> ``"dump.gz"``; other names unchanged."""
    return ext[: -len(SUFFIX)] if is_encrypted(ext) else ext


def command(settings: GpgSettings, passphrase_fd: int | None) -> list[str]:
    """The decrypting gpg command: no terminal, no key server, data from stdin to stdout."""
    argv = [settings.binary, "--batch", "--no-tty", "--quiet", "--no-auto-key-retrieve"]
    if settings.home:
        argv += ["--homedir", settings.home]
    if passphrase_fd is not None:
        argv += ["--pinentry-mode", "loopback", "--passphrase-fd", str(passphrase_fd)]
    return [*argv, "--decrypt"]


def decrypt(settings: GpgSettings, source: Stage, secrets: tuple[str, ...] = ()) -> Stage:
    """Start ``gpg --decrypt`` reading ``source``'s stdout; the returned stage's stdout is the
    plaintext and ``source`` is its upstream. ``source`` is stopped if gpg cannot start."""
    assert source.proc.stdout is not None
    hidden = (*secrets, *([settings.passphrase] if settings.passphrase else []))
    read_fd = write_fd = -1
    try:
        if settings.passphrase is not None:
            read_fd, write_fd = os.pipe()
            os.write(write_fd, settings.passphrase.encode() + b"\n")  # far below a pipe's buffer
            os.close(write_fd)
            write_fd = -1
        proc = subprocess.Popen(
            command(settings, read_fd if read_fd >= 0 else None),
            stdin=source.proc.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(read_fd,) if read_fd >= 0 else (),
            start_new_session=True,
        )
    except OSError as exc:
        source.stop()
        raise DjangoRcloneError(
            f"this backup is encrypted with GPG (a django-dbbackup .gpg file) and {settings.binary!r} could not be "
            f"started ({exc.strerror or exc}); install GnuPG or set GPG['BINARY']. Nothing was restored"
        ) from None
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
    source.proc.stdout.close()  # gpg holds it now; rclone sees SIGPIPE if gpg stops reading
    return Stage("gpg --decrypt", proc, clean=lambda raw: scrub(raw, hidden), upstream=(source,))
