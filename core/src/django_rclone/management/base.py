"""Shared behaviour of the django-rclone management commands."""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from django_rclone.conf import get_settings
from django_rclone.exceptions import DjangoRcloneError
from django_rclone.secrecy import scrub


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def scrubbed(message: str) -> str:
    """``message`` without secret values from REMOTE, RCLONE_FLAGS or RCLONE_ENV (rclone may print them)."""
    try:
        secrets = get_settings().secrets
    except ImproperlyConfigured:
        secrets = ()
    return scrub(message, secrets)


class RcloneCommand(BaseCommand):
    """Turns every django-rclone error into one ``CommandError`` line and a non-zero exit."""

    verbosity: int = 1

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except (DjangoRcloneError, ImproperlyConfigured) as exc:
            raise CommandError(scrubbed(str(exc))) from exc
        except CommandError as exc:
            raise CommandError(scrubbed(str(exc)), returncode=exc.returncode) from exc

    def info(self, message: str, level: int = 1) -> None:
        if self.verbosity >= level:
            self.stdout.write(message)

    def warn(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stderr.write(self.style.WARNING(f"Warning: {message}"))

    def confirm(self, question: str, noinput: bool) -> bool:
        """Ask on a terminal; refuse to guess when stdin is not one and --noinput was not given."""
        if noinput:
            return True
        if not sys.stdin.isatty():
            raise CommandError(f"{question} Refusing to continue without a terminal to ask on; pass --noinput.")
        answer = input(f"{question} [y/N] ").strip().lower()
        return answer in ("y", "yes")

    def handle(self, *args: Any, **options: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError
