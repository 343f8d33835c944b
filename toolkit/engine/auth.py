"""Registry credentials in docker's `config.json` format (`tke login` / `tke logout`).

The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; entries look like
`{"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}` and Docker Hub's key is
`https://index.docker.io/v1/`, so docker and tke share logins. Other keys in the file are kept.
The file is written atomically with mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Optional

from toolkit.engine.reference import DOCKER_HUB
from toolkit.engine.store import write_atomic
from toolkit.errors import TkError

HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(registry: str) -> str:
    return HUB_KEY if registry == DOCKER_HUB else registry


def _load() -> dict:
    path = config_path()
    try:
        with open(path, "rb") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise TkError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TkError(f"{path}: expected a JSON object")
    return data


def _save(data: dict) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_atomic(path, (json.dumps(data, indent="\t") + "\n").encode(), 0o600)


def _candidates(registry: str) -> list[str]:
    key = server_key(registry)
    return [key, "https://" + key, "http://" + key] if registry != DOCKER_HUB else [key, DOCKER_HUB]


def get(registry: str) -> Optional[tuple[str, str]]:
    """(username, password) stored for a registry, or None."""
    auths = _load().get("auths") or {}
    for key in _candidates(registry):
        entry = auths.get(key)
        if not entry or not entry.get("auth"):
            continue
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise TkError(f"{config_path()}: bad auth entry for {key}") from None
        return user, password
    return None


def store(registry: str, username: str, password: str) -> None:
    data = _load()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    data.setdefault("auths", {})[server_key(registry)] = {"auth": token}
    _save(data)


def erase(registry: str) -> bool:
    """Forget a registry's credentials; True if there were any."""
    data = _load()
    auths = data.get("auths") or {}
    found = False
    for key in _candidates(registry):
        if key in auths:
            del auths[key]
            found = True
    if found:
        _save(data)
    return found
