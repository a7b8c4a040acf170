"""The read-only backup status page in the admin: real backups on a local-folder remote, read
through the real catalog; the Django test client for access rules, and headless Chromium for what a
person sees (a table and a chart on the rendered page)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from django_rclone import status
from tests.core.conftest import REAL_RCLONE

URL = "/admin/django_rclone/backupstatus/"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    status.clear_cache()
    yield
    status.clear_cache()


def _user(name: str, *, staff: bool, allowed: bool) -> Any:
    user = get_user_model().objects.create_user(name, password="pw", is_staff=staff)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="view_backup_status"))
    return user


def _two_backups() -> list[str]:
    call_command("dbbackup", verbosity=0)
    time.sleep(1.05)  # the default template names backups by the second
    call_command("dbbackup", verbosity=0)
    from django_rclone.api import list_backups

    return [e.name for e in list_backups("default")]


def test_staff_with_the_permission_see_table_chart_and_retention_plan(
    sqlite_db: str, remote: Path, rclone_settings: Any
) -> None:
    rclone_settings(DB_CLEANUP_KEEP=1)
    newest, older = _two_backups()
    client = Client()
    client.force_login(_user("ops", staff=True, allowed=True))
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="backup-status"' in html
    assert newest in html
    assert "no backup" in html
    assert html.count('class="size"') == 2  # one bar per backup of default
    assert html.count('class="duration"') == 2
    plan = html.split("Next clean-up", 1)[1]
    assert older in plan
    assert "beyond the newest 1" in plan
    assert newest not in plan.split("</ul>", 1)[0]
    assert "<form" not in html.split('id="content-main"', 1)[1]  # nothing to press
    # Looking is read-only: the retention plan was shown, not carried out.
    assert {p.name for p in (remote / "db").iterdir() if not p.name.endswith(".manifest.json")} >= {newest, older}


def test_access_needs_staff_and_the_dedicated_permission(sqlite_db: str, remote: Path) -> None:
    call_command("dbbackup", verbosity=0)
    client = Client()
    assert client.get(URL).status_code == 302  # to the admin login
    client.force_login(_user("staff", staff=True, allowed=False))
    assert client.get(URL).status_code == 403
    client.force_login(_user("outsider", staff=False, allowed=True))
    assert client.get(URL).status_code == 302
    client.force_login(_user("ops", staff=True, allowed=True))
    assert client.get(URL).status_code == 200
    for suffix in ("add/", "1/change/", "1/delete/"):
        assert client.get(URL + suffix).status_code == 404
    index = client.get("/admin/").content.decode()
    assert URL in index


def test_a_slow_remote_gives_a_notice_not_a_hung_page(
    sqlite_db: str, remote: Path, rclone_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_command("dbbackup", verbosity=0)
    slow = tmp_path / "slow-rclone"
    slow.write_text(f'#!/bin/sh\nsleep 3\nexec {REAL_RCLONE} "$@"\n')
    slow.chmod(0o755)
    rclone_settings(RCLONE_BINARY=str(slow))
    monkeypatch.setattr(status, "STATUS_TIMEOUT", 0.5)
    client = Client()
    client.force_login(_user("ops", staff=True, allowed=True))
    clock = time.monotonic()
    page = client.get(URL).content.decode()
    assert time.monotonic() - clock < 2.5
    assert "did not answer within 0.5 s" in page
    monkeypatch.setattr(status, "STATUS_TIMEOUT", 30.0)
    page = client.get(URL).content.decode()  # the background read finishes and is shown
    assert 'class="size"' in page
    assert "did not answer" not in page


def test_an_unreachable_remote_is_reported_on_the_page(
    sqlite_db: str, rclone_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = ["--s3-endpoint", "http://127.0.0.1:9", "--s3-provider", "Other", "--low-level-retries", "1"]
    rclone_settings(RCLONE_FLAGS=[*flags, "--retries", "1", "--contimeout", "2s"], REMOTE=":s3:bucket")
    monkeypatch.setattr(status, "STATUS_TIMEOUT", 60.0)
    client = Client()
    client.force_login(_user("ops", staff=True, allowed=True))
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "The remote could not be read" in html, html.split('id="content-main"', 1)[1][:2000]
    assert "connection refused" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def live_server() -> Iterator[str]:
    """The test project served over HTTP on 127.0.0.1 (admin static files included), in a thread."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (Debian package chromium)")
def test_a_browser_renders_the_table_and_the_chart(
    sqlite_db: str, remote: Path, live_server: str, tmp_path: Path
) -> None:
    from PIL import Image

    _two_backups()
    _user("ops", staff=True, allowed=True)
    url = f"{live_server}/test-login/?user=ops&next={URL}"
    profile = tmp_path / "profile"
    base = [
        str(_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1400",
    ]
    shot = tmp_path / "status.png"
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run([*base, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120, env=env)
    dom = subprocess.run([*base, "--dump-dom", url], check=True, capture_output=True, timeout=120, env=env)
    html = dom.stdout.decode()
    assert 'id="backup-status"' in html
    assert "django-rclone-chart" in html
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    bars = sum(n for n, rgb in colours if rgb == (0x2E, 0x86, 0xC1))
    dots = sum(n for n, rgb in colours if rgb == (0xE6, 0x7E, 0x22))
    assert bars > 500, f"the chart's bars are not visible in the screenshot ({bars} pixels)"
    assert dots > 10, f"the chart's duration dots are not visible ({dots} pixels)"
    # the admin's stylesheet loaded: the header bar is drawn in a colour, not plain white
    top = image.crop((0, 0, image.width, 40)).getcolors(maxcolors=1 << 20) or []
    assert max(top)[1] != (255, 255, 255)
