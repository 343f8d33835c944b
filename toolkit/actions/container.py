"""Controller half of `container`, `container_image` and `container_volume`: the engine on the host.

The module runs with `_tke_engine` = {digest, version[, base]} naming this controller's engine
(toolkit/enginebundle.py; `base` from the host's `tke_engine_dir` variable). On the host it
uses `tke_path`, else an installed tke, else that engine (modules/_utils/tke.py). When the
engine is not on the host yet, the module stops before doing anything and answers
`tke_engine_missing` with an upload path; this action then sends the archive there and runs
the module again with it, and the module installs it (modules/_utils/tkeship.py) before its
work. So a host gets each engine version once, and every later task costs no extra round trip.
The install is tooling, as Ansible's module transfer: it happens in check mode too and is not
a change; the result says `tke_engine_installed: PATH` on the task that installed it.
"""

from __future__ import annotations

from typing import Any, Dict

from toolkit.actions.base import ActionContext
from toolkit.enginebundle import engine_bundle


def _ship(ctx: ActionContext) -> Dict[str, Any]:
    bundle = engine_bundle()
    ship = {"digest": bundle.digest, "version": bundle.version}
    base = ctx.variables.get("tke_engine_dir") if ctx.variables else None
    if base:
        ship["base"] = str(base)
    return ship


def async_args(ctx: ActionContext) -> Dict[str, Any]:
    """The arguments of a `poll: 0` job: it uses the engine when it is on the host already
    (nothing is uploaded for a detached job)."""
    if ctx.args.get("tke_path"):
        return dict(ctx.args)
    return dict(ctx.args, _tke_engine=_ship(ctx))


def run(ctx: ActionContext) -> Dict[str, Any]:
    args = dict(ctx.args)
    if args.get("tke_path"):  # the task names its tke: nothing to ship
        return ctx.run_module(ctx.action, args)
    bundle = engine_bundle()
    ship = _ship(ctx)
    result = ctx.run_module(ctx.action, dict(args, _tke_engine=ship))
    missing = result.get("tke_engine_missing")
    if not isinstance(missing, dict):
        return result
    ctx.connection.put_content(bundle.archive(), missing["upload"], mode="0600")
    result = ctx.run_module(
        ctx.action, dict(args, _tke_engine=dict(ship, archive=missing["upload"]))
    )
    if not result.get("tke_engine_missing"):
        result["tke_engine_installed"] = missing["path"]
    return result
