"""`cityeye keys create | list | revoke`: API keys for the HTTP API (the key is printed once, at creation)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cityeye.config import Settings

if TYPE_CHECKING:
    from cityeye.runtime import Runtime


def _runtime(settings: Settings) -> Runtime:
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime.from_settings(settings, webhooks="off")


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        new = rt.api_keys.create(args.name, args.role, args.district or ())
    districts = ", ".join(new.key.districts) or "all districts"
    print(f"key {new.key.name!r}: role {new.key.role}, {districts}")
    print(new.token)
    print("store it now: it is not shown again (only its salted hash is kept)")
    return 0


def cmd_list(_args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        rows = rt.api_keys.list()
    print(f"{'name':<24}{'role':<12}{'prefix':<10}{'created (UTC)':<22}{'revoked':<22}districts")
    for k in rows:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
        print(
            f"{k.name:<24}{k.role:<12}{k.prefix:<10}{k.created_at.strftime('%Y-%m-%d %H:%M:%S'):<22}{revoked:<22}"
            f"{', '.join(k.districts) or 'all'}"
        )
    print(f"{len(rows)} keys")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        row = rt.api_keys.revoke(args.name)
    print(f"key {row.name!r} revoked at {row.revoked_at.isoformat() if row.revoked_at else '?'}")
    return 0


def add_parser(sub: Any) -> None:
    from cases.lifecycle import Role

    keys = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    create = ks.add_parser("create", help="a new key bound to a role (and optionally districts)")
    create.add_argument("--name", required=True, help="unique name, e.g. alice (shown in the audit log)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--district", action="append", help="bind the key to a district (repeatable)")
    create.set_defaults(func=cmd_create)
    ks.add_parser("list", help="all keys (never the keys themselves)").set_defaults(func=cmd_list)
    revoke = ks.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_revoke)
