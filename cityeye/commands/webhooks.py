"""`cityeye webhooks list | retry`: the webhook outbox and its dead-letter list (see docs/lifecycle.md)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cityeye.config import Settings
from models.urls import redact

if TYPE_CHECKING:
    from cases.push import WebhookDeliverer


@contextmanager
def _deliverer(settings: Settings) -> Iterator[WebhookDeliverer]:
    from cases.push import WebhookDeliverer
    from cityeye.runtime import Runtime

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with Runtime.from_settings(settings, webhooks="off") as rt:
        deliverer = WebhookDeliverer(rt.sessions, settings.push)
        try:
            yield deliverer
        finally:
            deliverer.stop()


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    with _deliverer(settings) as deliverer:
        rows = deliverer.deliveries(args.state)
    print(f"{'id':<8}{'state':<11}{'event':<21}{'case':<8}{'attempts':<10}{'next attempt (UTC)':<21}url · last error")
    for r in rows:
        when = r.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if r.state == "pending" else "-"
        error = f" · {r.last_error[:80]}" if r.last_error else ""
        print(f"{r.id:<8}{r.state:<11}{r.event_type:<21}{r.case_id:<8}{r.attempts:<10}{when:<21}{redact(r.url)}{error}")
    print(f"{len(rows)} deliveries" + (f" ({args.state})" if args.state else ""))
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    from cases.errors import InvalidAction

    with _deliverer(settings) as deliverer:
        for delivery_id in args.ids:
            try:
                deliverer.retry(delivery_id)
            except InvalidAction as exc:
                raise ValueError(str(exc)) from exc
            print(f"delivery {delivery_id} is pending again (attempts reset)")
    return 0


def add_parser(sub: Any) -> None:
    hooks = sub.add_parser("webhooks", help="webhook deliveries: list (dead letters with --state dead), retry")
    hs = hooks.add_subparsers(dest="webhooks_command", required=True)
    ls = hs.add_parser("list", help="deliveries, oldest first")
    ls.add_argument("--state", choices=["pending", "delivered", "dead"], help="only these (dead: the dead letters)")
    ls.set_defaults(func=cmd_list)
    retry = hs.add_parser("retry", help="put dead deliveries back in the queue with fresh attempts")
    retry.add_argument("ids", type=int, nargs="+", metavar="ID")
    retry.set_defaults(func=cmd_retry)
