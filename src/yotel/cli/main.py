"""The `yotel` command (PRODUCT.md §2). Every command accepts `--json`.

    yotel serve [--dev]
    yotel db upgrade
    yotel tenants create --name N [--timezone TZ]
    yotel api-keys create --tenant ID --scope S [--scope S ...] [--name NAME]
    yotel leads import --campaign ID FILE.csv
    yotel dnd import FILE.csv

Settings are built here, once, and components get the small values they need.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from yotel.cli import commands, imports
from yotel.domain.errors import ServerError, YotelError
from yotel.domain.scopes import API_KEY_SCOPES
from yotel.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yotel", description="Telephony for voice AI.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = _command(sub, "serve", "run the platform (API, media, ...) in this process")
    serve.add_argument("--dev", action="store_true",
                       help="development mode: ws://, http:// and local URLs allowed")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="action", required=True)
    _command(db_sub, "upgrade", "apply database migrations up to the latest")
    tenants = sub.add_parser("tenants", help="tenants")
    create_tenant = _command(tenants.add_subparsers(dest="action", required=True), "create",
                             "create a tenant")
    create_tenant.add_argument("--name", required=True)
    create_tenant.add_argument("--timezone", default="UTC", help="IANA zone (default UTC)")
    keys = sub.add_parser("api-keys", help="tenant API keys")
    create_key = _command(keys.add_subparsers(dest="action", required=True), "create",
                          "create an API key (shown once)")
    create_key.add_argument("--tenant", required=True, help="tenant id")
    create_key.add_argument("--scope", action="append", required=True,
                            help=f"repeatable; one of: {', '.join(sorted(API_KEY_SCOPES))}")
    create_key.add_argument("--name", default=None)
    _import_commands(sub)
    return parser


def _import_commands(sub: Any) -> None:
    leads = sub.add_parser("leads", help="campaign leads")
    leads_import = _command(leads.add_subparsers(dest="action", required=True), "import",
                            "bulk-add leads from a CSV file (phone, name, timezone, ...)")
    leads_import.add_argument("--campaign", required=True, help="campaign id")
    leads_import.add_argument("file", help="CSV with a header row; other columns become "
                              "custom_fields")
    dnd = sub.add_parser("dnd", help="the platform do-not-disturb registry")
    dnd_import = _command(dnd.add_subparsers(dest="action", required=True), "import",
                          "add numbers to the platform DND registry")
    dnd_import.add_argument("file", help="one E.164 number per line")


def _command(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


Handler = Callable[[argparse.Namespace, Any], Coroutine[Any, Any, dict[str, Any]]]
_HANDLERS: dict[tuple[str, str | None], Handler] = {
    ("db", "upgrade"): commands.db_upgrade,
    ("tenants", "create"): commands.tenants_create,
    ("api-keys", "create"): commands.api_keys_create,
    ("leads", "import"): imports.leads_import,
    ("dnd", "import"): imports.dnd_import,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Only `serve` narrates; one-shot commands print their result and nothing else.
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(**({"allow_insecure_urls": True} if _is_dev(args) else {}))
        if args.command == "serve":
            commands.serve(settings, as_json=args.json)
            return 0
        handler = _HANDLERS[(args.command, getattr(args, "action", None))]
        result = asyncio.run(handler(args, settings))
    except YotelError as error:
        _report_error(error, as_json=args.json)
        return 1
    except (OSError, RuntimeError) as error:  # e.g. the API port is taken
        _report_error(ServerError(str(error)), as_json=args.json)
        return 1
    _print(result, as_json=args.json)
    return 0


def _is_dev(args: argparse.Namespace) -> bool:
    return args.command == "serve" and bool(args.dev)


def _print(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {value}")


def _report_error(error: YotelError, *, as_json: bool) -> None:
    if as_json:
        body = {"type": error.type, "message": error.message, "details": list(error.details)}
        print(json.dumps({"ok": False, "error": body}))
    else:
        print(f"error: {error.message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
