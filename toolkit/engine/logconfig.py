"""A container's log driver and options, as docker's `--log-driver` and `--log-opt`.

    conf = from_flags("json-file", ["max-size=10m", "max-file=3"])   # HostConfig.LogConfig
    conf = with_defaults(None, store.settings())   # dockerd's daemon.json: "log-driver",
                                                   # "log-opts" in the store's config.json
    max_size, max_files = limits(conf)             # for the shim: rotate past max_size bytes,
    paths = files(log_path, conf)                  # keep max_files files; read oldest first

Drivers: `json-file` (docker's default: one JSON object per line, written by the shim) and
`none` (nothing kept; `tke logs` says the driver cannot be read). Options of json-file:
`max-size` (a size: 10m, 512k; -1 or absent: unlimited), `max-file` (files kept, at least 1;
needs max-size), as docker's; others are refused with docker's message.
"""

from __future__ import annotations

from toolkit.errors import TkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

DRIVERS = ("json-file", "none")
JSON_FILE_OPTS = ("max-size", "max-file")
UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class LogConfigError(TkError):
    """A log driver or option docker would refuse (its daemon's errors: 125)."""

    exit_code = 125


def from_flags(driver: Optional[str], opts: list) -> Optional[dict]:
    """HostConfig.LogConfig for `--log-driver DRIVER --log-opt K=V ...` (None: neither given,
    the store's default applies)."""
    if driver is None and not opts:
        return None
    config = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LogConfigError(f"invalid log opt format: {item!r} (KEY=VALUE)")
        config[key] = value
    return validate({"Type": driver or "json-file", "Config": config})


def with_defaults(conf: Optional[dict], settings: dict) -> dict:
    """The container's LogConfig: its own, else the store's ("log-driver", "log-opts")."""
    if conf is not None:
        return conf
    driver = settings.get("log-driver") or "json-file"
    opts = settings.get("log-opts") or {}
    if not isinstance(opts, dict):
        raise LogConfigError("the store's config.json: log-opts must be an object")
    return validate({"Type": driver, "Config": {str(k): str(v) for k, v in opts.items()}})


def validate(conf: dict) -> dict:
    driver, config = conf["Type"], conf["Config"]
    if driver not in DRIVERS:
        raise LogConfigError(
            f"Error response from daemon: logger: no log driver named '{driver}' is registered"
        )
    allowed = JSON_FILE_OPTS if driver == "json-file" else ()
    for key in config:
        if key not in allowed:
            raise LogConfigError(
                f"Error response from daemon: unknown log opt '{key}' for {driver} log driver"
            )
    max_size, max_files = limits(conf)
    if "max-file" in config and max_size == 0 and max_files > 1:
        raise LogConfigError("Error response from daemon: max-file cannot be set without max-size")
    return conf


def limits(conf: dict) -> tuple:
    """(max size in bytes, 0: unlimited; files kept) of a json-file LogConfig."""
    config = conf.get("Config") or {}
    size_text = config.get("max-size", "-1")
    size = -1 if size_text == "-1" else _size(size_text)
    try:
        count = int(config.get("max-file", "1"))
    except ValueError:
        count = 0
    if count < 1:
        raise LogConfigError(
            "Error response from daemon: max-file must be a positive number, "
            f"not {config.get('max-file')!r}"
        )
    return (0 if size < 0 else size), count


def _size(text: str) -> int:
    number = text.strip().lower().rstrip("b")
    unit = number[-1:] if number[-1:] in UNITS else ""
    digits = number[: len(number) - len(unit)]
    try:
        value = float(digits)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LogConfigError(f"Error response from daemon: invalid max-size: {text!r}")
    return int(value * UNITS[unit])


def files(log_path: str, conf: Optional[dict]) -> list:
    """The log's files, oldest first: PATH.N ... PATH.1, PATH (rotated by the shim)."""
    count = limits(conf)[1] if conf and conf.get("Type") == "json-file" else 1
    return [f"{log_path}.{n}" for n in range(count - 1, 0, -1)] + [log_path]
