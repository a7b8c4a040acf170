"""Keep rclone secrets out of every command line and every message.

Anything on a command line is readable by every user of the machine (``ps``, ``/proc/*/cmdline``).
rclone reads every flag from an environment variable (``--b2-key`` from ``RCLONE_B2_KEY``) and
every option of a remote from ``RCLONE_CONFIG_<NAME>_<KEY>``, so:

- a ``REMOTE`` connection string with parameters (``:b2,account=a,key=SECRET:bucket``,
  ``myremote,password=SECRET:path``) becomes a plain ``name:path`` whose options travel in the
  environment: an on-the-fly ``:backend`` remote is given the name ``ENV_REMOTE``;
- ``RCLONE_FLAGS`` whose name says key, password, secret, token, header, auth or credential move
  to their ``RCLONE_<FLAG>`` variable;
- ``redact_remote`` / ``redact_flags`` give the spelling messages and listings may show,
  and ``scrub`` removes the secret values themselves from any text (rclone's own stderr).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The name given to an on-the-fly ``:backend,...:`` REMOTE once its options move to the environment.
ENV_REMOTE = "django_rclone_remote"
#: What a hidden value is shown as.
MASK = "***"

#: A flag or parameter name part that marks its value as a secret.
SECRET_NAME = re.compile(
    r"(^|[-_])(key|apikey|pass|passphrase|password\d*|secret|token|header|auth|credential|bearer|sas|private|cookie|pem)"
    r"s?([-_]|$)",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(://[^/@:\s]*:)([^/@\s]+)(@)")


def flag_env_name(option: str) -> str:
    """``--b2-key`` -> ``RCLONE_B2_KEY``."""
    return "RCLONE_" + option.strip("-").replace("-", "_").upper()


def remote_env_name(remote: str, key: str) -> str:
    """The variable rclone reads option ``key`` of remote ``remote`` from (rclone keeps '-' in names)."""
    return f"RCLONE_CONFIG_{remote.upper()}_{key.replace('-', '_').upper()}"


@dataclass(frozen=True)
class ConnectionString:
    """``name,k=v,...:path`` or ``:backend,k=v,...:path`` split into its parts."""

    name: str  #: the remote name, or the backend for an on-the-fly remote
    on_the_fly: bool
    params: tuple[tuple[str, str], ...]
    path: str


def parse_connection_string(remote: str) -> ConnectionString | None:
    """Split an rclone remote spelling, or ``None`` for a local path or a malformed string.

    Parameter values may be quoted with ``"`` or ``'`` (a doubled quote stands for itself); a
    parameter without ``=`` means ``true``, as rclone reads it.
    """
    if remote.startswith("/"):
        return None
    on_the_fly = remote.startswith(":")
    text = remote[1:] if on_the_fly else remote
    match = re.match(r"[^,:]*", text)
    name = match.group(0) if match else ""
    i = len(name)
    params: list[tuple[str, str]] = []
    while i < len(text) and text[i] == ",":
        i += 1
        key_match = re.match(r"[^,:=]*", text[i:])
        key = key_match.group(0) if key_match else ""
        i += len(key)
        value = "true"
        if i < len(text) and text[i] == "=":
            i += 1
            if i < len(text) and text[i] in "\"'":
                quote, i, chars = text[i], i + 1, []
                while i < len(text):
                    if text[i] == quote:
                        if i + 1 < len(text) and text[i + 1] == quote:
                            chars.append(quote)
                            i += 2
                            continue
                        break
                    chars.append(text[i])
                    i += 1
                else:
                    return None  # unterminated quote
                i += 1
                value = "".join(chars)
            else:
                value_match = re.match(r"[^,:]*", text[i:])
                value = value_match.group(0) if value_match else ""
                i += len(value)
        params.append((key.strip(), value))
    if i >= len(text) or text[i] != ":":
        return None
    return ConnectionString(name, on_the_fly, tuple(params), text[i + 1 :])


@dataclass(frozen=True)
class Hidden:
    """A REMOTE and flags with their secrets moved to the environment."""

    remote: str
    flags: tuple[str, ...]
    env: dict[str, str]
    secrets: tuple[str, ...]


def secret_values(key: str, value: str) -> list[str]:
    """What to scrub from messages for option ``key`` set to ``value``: the value and its parts
    (rclone may print a ``headers`` list or a ``Name: value`` header split up), and URL passwords."""
    found = []
    if SECRET_NAME.search(key) and value.lower() not in ("", "true", "false"):
        found = [value, *(part.strip().strip("\"'") for part in re.split(r"[,;:]", value))]
    found += [m.group(2) for m in _URL_USERINFO.finditer(value)]
    nested = parse_connection_string(value) if ":" in value else None  # remote=':b2,key=…:bucket'
    for nested_key, nested_value in nested.params if nested else ():
        found += secret_values(nested_key, nested_value)
    return [v for v in found if len(v) >= 3]


def hide_remote(remote: str) -> Hidden:
    """``remote`` as rclone will be given it, with its connection-string options in ``env``."""
    parsed = parse_connection_string(remote)
    if parsed is None or not parsed.params:
        return Hidden(remote, (), {}, ())
    if parsed.on_the_fly:
        name = ENV_REMOTE
        env = {remote_env_name(name, "type"): parsed.name}
    else:
        name, env = parsed.name, {}
    secrets: list[str] = []
    for key, value in parsed.params:
        env[remote_env_name(name, key)] = value
        secrets += secret_values(key, value)
    return Hidden(f"{name}:{parsed.path}", (), env, tuple(secrets))


def _split_flags(flags: Sequence[str]) -> list[tuple[str, str | None, list[str]]]:
    """(option name or '', value or None, the argv words) for each flag in ``flags``."""
    out: list[tuple[str, str | None, list[str]]] = []
    i = 0
    while i < len(flags):
        word = flags[i]
        if word.startswith("--") and len(word) > 2:
            option, eq, value = word[2:].partition("=")
            if eq:
                out.append((option, value, [word]))
            elif i + 1 < len(flags) and not flags[i + 1].startswith("-"):
                out.append((option, flags[i + 1], [word, flags[i + 1]]))
                i += 1
            else:
                out.append((option, None, [word]))
        else:
            out.append(("", None, [word]))
        i += 1
    return out


def is_secret_flag(option: str) -> bool:
    return bool(SECRET_NAME.search(option))


def hide_flags(flags: Sequence[str]) -> Hidden:
    """Move every flag whose name marks a secret (or whose value is a URL with a password) to its
    ``RCLONE_<FLAG>`` variable.

    Raises ``ValueError`` (the caller turns it into a settings error) for what cannot be moved
    safely: a secret flag given twice (rclone reads ``RCLONE_HEADER`` as one header), a secret flag
    followed by a word starting with ``-`` (rclone would take it as the value, which would then
    stay on the command line; write ``--flag=value``), and a word that is not a flag's value.
    """
    kept: list[str] = []
    env: dict[str, str] = {}
    secrets: list[str] = []
    split = _split_flags(flags)
    for index, (option, value, words) in enumerate(split):
        if not option:
            if not words[0].startswith("-"):
                raise ValueError(f"{MASK!r} (a word that is neither a flag nor a flag's value)")
            kept += words
            continue
        if not (is_secret_flag(option) or (value is not None and _URL_USERINFO.search(value))):
            kept += words
            continue
        following = split[index + 1][2][0] if index + 1 < len(split) else ""
        if value is None and following.startswith("-") and not following.startswith("--"):
            raise ValueError(f"--{option} is followed by {following[:2]}…; write --{option}=VALUE")
        name = flag_env_name(option)
        if name in env:
            raise ValueError(f"--{option} is given more than once")
        env[name] = "true" if value is None else value
        secrets += secret_values(option, env[name])
    return Hidden("", tuple(kept), env, tuple(secrets))


def redact_remote(remote: str) -> str:
    """REMOTE as messages may show it: every connection-string parameter value masked."""
    parsed = parse_connection_string(remote)
    if parsed is None or not parsed.params:
        return _URL_USERINFO.sub(rf"\g<1>{MASK}\g<3>", remote)
    params = "".join(f",{key}={MASK}" for key, _value in parsed.params)
    return f"{':' if parsed.on_the_fly else ''}{parsed.name}{params}:{parsed.path}"


def redact_flags(flags: Sequence[str]) -> list[str]:
    """RCLONE_FLAGS as messages may show them: values of secret-named flags masked."""
    out: list[str] = []
    for option, value, words in _split_flags(flags):
        if option and value is not None and is_secret_flag(option):
            out += [f"--{option}={MASK}"] if len(words) == 1 else [words[0], MASK]
        else:
            out += words
    return out


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (three characters or longer) replaced by ``MASK``."""
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _URL_USERINFO.sub(rf"\g<1>{MASK}\g<3>", text)
