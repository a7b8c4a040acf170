"""The alerting recipe in docs/signals.md, run as written: e-mail to ADMINS, healthcheck pings, and
the command still failing with the backup's own error when a receiver breaks."""

from __future__ import annotations

import http.server
import re
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_rclone import signals
from tests.core.conftest import CONNECTOR

pytestmark = pytest.mark.usefixtures("no_stray_processes")

DOC = Path(__file__).parents[2] / "docs" / "signals.md"


def recipe_source() -> str:
    section = DOC.read_text().split("## Alerting on failures", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no Python block in the alerting section of docs/signals.md"
    return match.group(1)


@pytest.fixture
def pings() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server standing in for the healthcheck service; yields its URL and the paths hit."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/check", seen
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def recipe(pings: tuple[str, list[str]]) -> Iterator[types.ModuleType]:
    module = types.ModuleType("alerting_recipe")
    exec(compile(recipe_source(), str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own docs
    module.HEALTHCHECK_URL = pings[0]
    yield module
    for name in ("db_backup_failed", "db_restore_failed", "post_db_backup", "media_backup_failed"):
        signal = getattr(signals, name)
        for func in (module.database_operation_failed, module.backup_committed, module.media_failed):
            signal.disconnect(func)


@pytest.fixture
def outbox() -> Iterator[list[mail.EmailMessage]]:
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", ADMINS=[("Ops", "ops@example.com")]
    ):
        mail.outbox = []
        yield mail.outbox
        del mail.outbox


def test_recipe_mails_and_pings_on_failure_and_success(
    sqlite_db: str,
    rclone_settings: Callable[..., None],
    tmp_path: Path,
    recipe: types.ModuleType,
    pings: tuple[str, list[str]],
    outbox: list[mail.EmailMessage],
) -> None:
    call_command("dbbackup", verbosity=0)
    assert pings[1] == ["/check"]
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": CONNECTOR, "DUMP_ARGS": ["--fail-after", "100"], "RESTORE_ARGS": []}}
    )
    with pytest.raises(CommandError, match="simulated failure after 100 bytes"):
        call_command("dbbackup", verbosity=0)
    assert pings[1] == ["/check", "/check/fail"]
    [message] = outbox
    assert message.subject.endswith("Database backup of 'default' failed at stage dump")
    assert "PipelineError" in message.body


def test_a_broken_recipe_never_hides_the_real_error(
    rclone_settings: Callable[..., None],
    recipe: types.ModuleType,
    outbox: list[mail.EmailMessage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recipe.HEALTHCHECK_URL = "http://127.0.0.1:9/unreachable"  # the healthcheck service is down
    rclone_settings(
        CONNECTORS={"default": {"CONNECTOR": CONNECTOR, "DUMP_ARGS": ["--exit-code", "3", "--fail-after", "0"]}}
    )
    with pytest.raises(CommandError, match="exited with status 3"):
        call_command("dbbackup", verbosity=0)
    alert, broken_hook = outbox
    assert alert.subject.endswith("Database backup of 'default' failed at stage dump")  # sent before the ping
    # Django itself logs the receiver's error on "django.dispatch"; its default logging mails ADMINS.
    assert "Error calling database_operation_failed" in broken_hook.subject
    assert "signal receiver" in caplog.text
    assert "URLError" in caplog.text
