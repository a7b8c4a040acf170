"""Django settings for the test suite.

One Django configuration serves every test: ``default`` is a SQLite file, the other aliases point
at the servers the test run starts itself on 127.0.0.1 (ports chosen in ``tests/conftest.py`` and
passed through environment variables before Django loads these settings).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from tests.gis import DJANGO_SPATIALITE_AVAILABLE, GIS_AVAILABLE

RUN_DIR = Path(os.environ.setdefault("DJANGO_RCLONE_TEST_DIR", tempfile.mkdtemp(prefix="django-rclone-tests-")))
SECRET_KEY = "tests-only-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SILENCED_SYSTEM_CHECKS = ["gis.W001"]  # Debian 12 ships GDAL 3.6
MEDIA_ROOT = str(RUN_DIR / "media")

DB_PASSWORD = "pw-Zq8!x rclone"
PG_PORT = int(os.environ.get("DJANGO_RCLONE_TEST_PG_PORT", "54329"))
MYSQL_PORT = int(os.environ.get("DJANGO_RCLONE_TEST_MYSQL_PORT", "33069"))
MYSQL_SOCKET = str(RUN_DIR / "mariadb" / "mysqld.sock")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rclone",
    "tests.testapp",
]
# The admin (for the backup status page, tests/core/test_status_page.py).
ROOT_URLCONF = "tests.urls"
STATIC_URL = "/static/"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
if GIS_AVAILABLE:
    INSTALLED_APPS += ["django.contrib.gis", "tests.gisapp"]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(RUN_DIR / "default.sqlite3")},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(RUN_DIR / "other.sqlite3")},
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "rclone_test",
        "USER": "rclone_app",
        "PASSWORD": DB_PASSWORD,
        "HOST": "127.0.0.1",
        "PORT": PG_PORT,
    },
    "mysql": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": "rclone_test",
        "USER": "rclone_app",
        "PASSWORD": DB_PASSWORD,
        "HOST": "127.0.0.1",
        "PORT": MYSQL_PORT,
        "OPTIONS": {"charset": "utf8mb4"},
    },
}
if GIS_AVAILABLE:
    DATABASES["postgis"] = {
        **DATABASES["postgres"],
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": "rclone_gis",
    }
if DJANGO_SPATIALITE_AVAILABLE:
    DATABASES["spatialite"] = {
        "ENGINE": "django.contrib.gis.db.backends.spatialite",
        "NAME": str(RUN_DIR / "spatial.sqlite3"),
    }

DATABASE_ROUTERS = ["tests.routers.TestRouter"]

DJANGO_RCLONE = {"REMOTE": str(RUN_DIR / "remote")}
# Subprocess tests (signals) pass their DJANGO_RCLONE here.
if os.environ.get("DJANGO_RCLONE_TEST_SETTINGS_JSON"):
    DJANGO_RCLONE = json.loads(os.environ["DJANGO_RCLONE_TEST_SETTINGS_JSON"])
# The settings fuzz test passes values JSON cannot carry (nan, inf, int keys) as a Python literal.
if os.environ.get("DJANGO_RCLONE_TEST_SETTINGS_REPR"):
    DJANGO_RCLONE = eval(  # noqa: S307 - test-only, the value comes from the test itself
        os.environ["DJANGO_RCLONE_TEST_SETTINGS_REPR"], {"nan": float("nan"), "inf": float("inf")}
    )
# Subprocess tests that need more aliases (e.g. "other-b") add them here.
if os.environ.get("DJANGO_RCLONE_TEST_EXTRA_DATABASES"):
    DATABASES.update(json.loads(os.environ["DJANGO_RCLONE_TEST_EXTRA_DATABASES"]))
