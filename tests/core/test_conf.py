"""DJANGO_RCLONE validation: each bad value names its key and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_rclone.conf import get_settings, load_settings


def test_defaults() -> None:
    conf = load_settings({"REMOTE": "myremote:backups"})
    assert conf.remote == "myremote:backups"
    assert conf.rclone_binary == "rclone"
    assert conf.rclone_config is None
    assert conf.rclone_flags == ()
    assert conf.db_backup_dir == "db"
    assert conf.db_filename_template == "{database}-{datetime}.{ext}"
    assert conf.db_date_format == "%Y-%m-%d-%H%M%S"
    assert conf.db_cleanup_keep == 10
    assert conf.media_backup_dir == "media"
    assert conf.connectors == {}
    assert conf.connector_mapping == {}


@pytest.mark.parametrize(
    ("raw", "key", "fix"),
    [
        (None, "REMOTE", "myremote:backups"),
        ({}, "REMOTE", "myremote:backups"),
        ({"REMOTE": "relative/path"}, "REMOTE", "absolute local path"),
        ({"REMOTE": "r:", "DB_FILENAME_TEMPLATE": "{datetime}-{database}.{ext}"}, "DB_FILENAME_TEMPLATE", "{database}"),
        ({"REMOTE": "r:", "DB_FILENAME_TEMPLATE": "{database}.{ext}"}, "DB_FILENAME_TEMPLATE", "{datetime}"),
        ({"REMOTE": "r:", "DB_FILENAME_TEMPLATE": "{database}-{datetime}-{user}"}, "DB_FILENAME_TEMPLATE", "unknown"),
        ({"REMOTE": "r:", "DB_FILENAME_TEMPLATE": "{database}/{datetime}"}, "DB_FILENAME_TEMPLATE", "DB_BACKUP_DIR"),
        ({"REMOTE": "r:", "DB_DATE_FORMAT": "%Y/%m/%d"}, "DB_DATE_FORMAT", "'/'"),
        ({"REMOTE": "r:", "DB_DATE_FORMAT": "%Y-%m-%d"}, "DB_DATE_FORMAT", "%S"),
        ({"REMOTE": "r:", "DB_CLEANUP_KEEP": 0}, "DB_CLEANUP_KEEP", "1 or more"),
        ({"REMOTE": "r:", "DB_CLEANUP_KEEP": "5"}, "DB_CLEANUP_KEEP", "whole number"),
        ({"REMOTE": "r:", "RCLONE_FLAGS": "--fast-list"}, "RCLONE_FLAGS", "list of strings"),
        ({"REMOTE": "r:", "RCLONE_BINARY": ""}, "RCLONE_BINARY", "absolute path"),
        ({"REMOTE": "r:", "DB_BACKUP_DIR": "../up"}, "DB_BACKUP_DIR", "'..'"),
        ({"REMOTE": "r:", "DB_BACKUP_DIR": "other:x"}, "DB_BACKUP_DIR", "':'"),
        ({"REMOTE": "r:", "MEDIA_BACKUP_DIR": "db"}, "MEDIA_BACKUP_DIR", "separate folders"),
        ({"REMOTE": "r:", "MEDIA_BACKUP_DIR": "db/media"}, "MEDIA_BACKUP_DIR", "separate folders"),
        ({"REMOTE": "r:", "CONNECTORS": ["x"]}, "CONNECTORS", "dict"),
    ],
)
def test_bad_settings_name_key_and_fix(raw: Any, key: str, fix: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings(raw)
    assert f"DJANGO_RCLONE['{key}']" in str(caught.value)
    assert fix in str(caught.value)


def test_unknown_key_is_reported() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown keys \\['REMOTES'\\]"):
        load_settings({"REMOTE": "r:", "REMOTES": "x"})


@pytest.mark.parametrize("remote", ["myremote:", "my-remote:backups/site", ":local:/srv/b", "/srv/backups"])
def test_accepted_remotes(remote: str) -> None:
    assert load_settings({"REMOTE": remote}).remote == remote


def test_cache_follows_override_settings() -> None:
    with override_settings(DJANGO_RCLONE={"REMOTE": "a:"}):
        assert get_settings().remote == "a:"
        with override_settings(DJANGO_RCLONE={"REMOTE": "b:", "DB_CLEANUP_KEEP": 3}):
            assert get_settings().remote == "b:"
            assert get_settings().db_cleanup_keep == 3
        assert get_settings().remote == "a:"


@pytest.mark.parametrize(
    "flags",
    [["--s3-secret-access-key", "x"], ["--crypt-password=abc"], ["--sftp-pass", "x"], ["--drive-client-secret=x"]],
)
def test_secret_flags_move_to_their_environment_variable(flags: list[str]) -> None:
    conf = load_settings({"REMOTE": "r:", "RCLONE_FLAGS": flags})
    option, _eq, value = flags[0][2:].partition("=")
    assert conf.rclone_env[f"RCLONE_{option.replace('-', '_').upper()}"] == (value or flags[1])
    assert conf.rclone_flags == ()


def test_harmless_flags_stay_on_the_command_line() -> None:
    flags = ["--transfers", "8", "--fast-list", "-v", "--sftp-key-file", "/k"]
    conf = load_settings({"REMOTE": "r:", "RCLONE_FLAGS": flags})
    assert conf.rclone_flags == ("--transfers", "8", "--fast-list", "-v")
    assert conf.rclone_env["RCLONE_SFTP_KEY_FILE"] == "/k"  # "key" in its name: moved, harmlessly


@pytest.mark.parametrize(
    ("remote", "plain", "env"),
    [
        (
            ":s3,secret_access_key=abc:bucket",
            "django_rclone_remote:bucket",
            {
                "RCLONE_CONFIG_DJANGO_RCLONE_REMOTE_TYPE": "s3",
                "RCLONE_CONFIG_DJANGO_RCLONE_REMOTE_SECRET_ACCESS_KEY": "abc",
            },
        ),
        ("myremote,password=x:path", "myremote:path", {"RCLONE_CONFIG_MYREMOTE_PASSWORD": "x"}),
        (
            ':http,url="https://u:p4ss@h/":',
            "django_rclone_remote:",
            {"RCLONE_CONFIG_DJANGO_RCLONE_REMOTE_URL": "https://u:p4ss@h/"},
        ),
    ],
)
def test_connection_string_parameters_move_to_the_environment(remote: str, plain: str, env: dict[str, str]) -> None:
    conf = load_settings({"REMOTE": remote})
    assert conf.remote == plain
    assert env.items() <= dict(conf.rclone_env).items()
    assert "abc" not in conf.remote_display
    assert "p4ss" not in conf.remote_display


def test_rclone_env_reaches_rclone_not_argv(tmp_path: Any) -> None:
    from django_rclone.rclone import Rclone

    store = tmp_path / "store"
    store.mkdir()
    conf = load_settings(
        {
            "REMOTE": ":alias:" + str(store),
            "RCLONE_ENV": {"RCLONE_CONFIG_VAULT_TYPE": "alias", "RCLONE_CONFIG_VAULT_REMOTE": str(store)},
        }
    )
    rclone = Rclone.from_settings(conf)
    rclone.rcat_bytes("vault:x.txt", b"configured from the environment only")
    assert (store / "x.txt").read_bytes() == b"configured from the environment only"
    assert "VAULT" not in " ".join(rclone.argv("lsjson", "vault:"))


@pytest.mark.parametrize(
    ("remote", "params", "path"),
    [
        ("r,skip_links:p", (("skip_links", "true"),), "p"),
        ("r,headers='a,b':p", (("headers", "a,b"),), "p"),
        ('r,x="say ""hi""":', (("x", 'say "hi"'),), ""),
        (":crypt,remote=':b2,key=k:b',password=p:sub", (("remote", ":b2,key=k:b"), ("password", "p")), "sub"),
    ],
)
def test_connection_strings_parse_as_rclone_reads_them(remote: str, params: tuple[Any, ...], path: str) -> None:
    from django_rclone.secrecy import parse_connection_string

    parsed = parse_connection_string(remote)
    assert parsed is not None
    assert (parsed.params, parsed.path) == (params, path)


def test_nested_connection_string_secrets_are_masked_in_messages() -> None:
    from django_rclone.secrecy import scrub

    conf = load_settings({"REMOTE": ":crypt,remote=':b2,account=acc,key=nested-Sk1:bucket',password=outer-Pw2:"})
    assert scrub("x nested-Sk1 y outer-Pw2", conf.secrets) == "x *** y ***"
    assert conf.remote_display == ":crypt,remote=***,password=***:"
