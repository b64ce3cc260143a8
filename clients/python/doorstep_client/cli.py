"""The ``doorstep`` command: login, enrol, sync, and offline reading and editing of a caseload."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sync import SyncError

from ._version import __version__
from .client import DoorstepClient, Record, SyncSummary
from .errors import EXIT_ERROR, EXIT_REFUSED, EXIT_USAGE, ClientError, InvalidInput, PassphraseError

_EPILOG = """\
environment: DOORSTEP_HOME (instead of --home), DOORSTEP_SERVER (instead of --server),
DOORSTEP_PASSWORD and DOORSTEP_PASSPHRASE (for scripts; otherwise you are prompted),
DOORSTEP_RETRIES (retries of a failed request, default 4).
exit codes: 0 ok, 1 error, 2 usage or invalid input, 3 wrong passphrase, 4 server unreachable,
5 device revoked (data kept locked), retired or wiped (data erased), 6 sync finished but some documents were refused."""


def _secret(env: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env)
    if value is not None:
        return value
    try:
        value = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != value:
            raise PassphraseError("the two passphrases differ")
    except EOFError:
        raise PassphraseError(f"no input: set {env} or run interactively") from None
    return value


def _passphrase(*, confirm: bool = False) -> str:
    return _secret("DOORSTEP_PASSPHRASE", "passphrase: ", confirm=confirm)


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """``field=value`` pairs; a value that parses as JSON (``45``, ``true``, ``null``, ``[…]``)
    is taken as such, anything else as text."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--set takes field=value, got {name.strip()[:40]!r} without '='")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        changes[name.strip()] = value
    return changes


def _print_record(record: Record, *, as_json: bool) -> None:
    if as_json:
        out: dict[str, Any] = {"_id": record.id, "_rev": record.rev, "type": record.type}
        out.update(case_id=record.case_id, content=record.content, conflicts=list(record.conflicts))
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return
    print(f"{record.id}  ({record.type}, case {record.case_id}, rev {record.rev})")
    if record.conflicts:
        print(f"  conflicting revisions (the server will merge them): {', '.join(record.conflicts)}")
    for name in sorted(record.content):
        print(f"  {name}: {json.dumps(record.content[name], ensure_ascii=False)}")


def _print_summary(summary: SyncSummary) -> None:
    push, pull = summary.push, summary.pull
    print(f"sync done: {push.docs_written} sent, {pull.docs_written} received")
    for report in summary.purged:
        lost = f"; {report.unsynced} unsent edit(s) discarded" if report.unsynced else ""
        print(
            f"removed {report.case_id} from this device ({report.reason}): {report.documents} document(s){lost}"
        )
    if summary.refused:
        print(f"{len(summary.refused)} document(s) refused by the server (kept here, retried on next sync):")
        for failure in summary.refused:
            print(f"  {failure.id} {failure.rev or ''}: {failure.error}: {failure.reason}")
    if summary.not_received:
        print(f"{len(summary.not_received)} document(s) could not be received:")
        for failure in summary.not_received:
            print(f"  {failure.id} {failure.rev or ''}: {failure.error}: {failure.reason}")


def cmd_login(client: DoorstepClient, args: argparse.Namespace) -> int:
    username = args.username or input("username: ").strip()
    password = _secret("DOORSTEP_PASSWORD", "password: ")
    user = client.login(username, password)
    print(f"logged in to {client.server_url} as {user.get('username', username)}")
    if not client.config.device_id:
        print("next: `doorstep enrol` to enrol this device")
    return 0


def cmd_enrol(client: DoorstepClient, args: argparse.Namespace) -> int:
    device_id = client.enrol(_passphrase(confirm=True), name=args.name)
    print(f"enrolled as device {device_id}; your device key is locked under your passphrase")
    return 0


def cmd_sync(client: DoorstepClient, args: argparse.Namespace) -> int:
    summary = client.sync(progress=False if args.no_progress else None)
    _print_summary(summary)
    return 0 if summary.ok else EXIT_REFUSED


def cmd_cases(client: DoorstepClient, args: argparse.Namespace) -> int:
    client.unlock(_passphrase())
    cases = client.cases()
    if not cases:
        print("no cases on this device (run `doorstep sync`)")
    for case in cases:
        if not case.readable:
            print(f"{case.id}  (no key on this device yet: sync)")
            continue
        c = case.content
        print(
            f"{case.id}  {c.get('case_number', '')}  {c.get('case_type', '')}  {c.get('status', '')}  {c.get('family_name', '')}"
        )
    return 0


def cmd_show(client: DoorstepClient, args: argparse.Namespace) -> int:
    client.unlock(_passphrase())
    _print_record(client.read(args.id), as_json=args.json)
    return 0


def cmd_edit(client: DoorstepClient, args: argparse.Namespace) -> int:
    changes = parse_assignments(args.set or [])
    if not changes:
        raise InvalidInput("nothing to change: give --set field=value")
    client.unlock(_passphrase())
    record = client.edit(args.id, changes)
    print(f"saved {record.id} as {record.rev} (not yet sent: run `doorstep sync`)")
    return 0


def cmd_new_visit(client: DoorstepClient, args: argparse.Namespace) -> int:
    when = args.date or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    content = {"status": "draft", "visit_type": args.type, "visit_date": when}
    content.update(parse_assignments(args.set or []))
    client.unlock(_passphrase())
    record = client.create("visit", args.case_id, content)
    print(f"created {record.id} (draft, not yet sent: run `doorstep sync`)")
    return 0


def cmd_discard(client: DoorstepClient, args: argparse.Namespace) -> int:
    removed = client.discard(args.id)
    print(f"discarded {', '.join(removed) or 'nothing'} of {args.id}; the server's version is back")
    return 0


def cmd_status(client: DoorstepClient, args: argparse.Namespace) -> int:
    status = client.status()
    if args.json:
        data = {
            "home": str(status.home),
            "server": status.server,
            "username": status.username,
            "device_id": status.device_id,
            "last_sync": status.last_sync,
            "documents": status.documents,
            "cases": status.cases,
            "pending": status.pending,
            "refused": [vars(refusal) for refusal in status.refused] if status.refused else [],
        }
        print(json.dumps(data, indent=2))
        return 0
    print(f"server:     {status.server or '(none)'}")
    print(f"user:       {status.username or '(not logged in)'}")
    print(f"device:     {status.device_id or '(not enrolled)'}")
    last = status.last_sync
    print(f"last sync:  {last['at'] if last else 'never'}")
    print(f"on device:  {status.documents} document(s) in {status.cases} case(s)")
    print(f"not sent:   {len(status.pending)} edited document(s)")
    for doc_id in status.pending:
        print(f"  {doc_id}")
    print(f"refused:    {len(status.refused)} document(s)")
    for refusal in status.refused:
        print(f"  {refusal.id} {refusal.rev}: {refusal.error}: {refusal.reason} ({refusal.at})")
    return 0


def cmd_wipe(client: DoorstepClient, args: argparse.Namespace) -> int:
    if not args.yes:
        answer = input(f"erase all Doorstep data in {client.home.root} (unsent edits are lost)? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing erased")
            return 1
    client.wipe()
    print("erased the local replica, keystore and configuration")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doorstep",
        description="Doorstep: your caseload on this device, encrypted, synced with the council's server.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"doorstep-client {__version__}")
    parser.add_argument("--home", help="configuration directory (default $DOORSTEP_HOME or ~/.doorstep)")
    parser.add_argument("--server", help="server base URL, e.g. http://127.0.0.1:8000 (remembered at login)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(
        name: str, run: Callable[[DoorstepClient, argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    add(
        "login",
        cmd_login,
        "log in and remember the server and user (password from prompt or DOORSTEP_PASSWORD)",
    ).add_argument("--username", "-u")
    add("enrol", cmd_enrol, "enrol this device: make its key, lock it under a passphrase").add_argument(
        "--name", help="a name for this device, shown to admins"
    )
    add("sync", cmd_sync, "send local edits, then receive your caseload").add_argument(
        "--no-progress", action="store_true", help="no progress bar"
    )
    add("cases", cmd_cases, "list the cases on this device")
    show = add("show", cmd_show, "show one document, decrypted")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    edit = add("edit", cmd_edit, "edit a document offline")
    edit.add_argument("id")
    edit.add_argument("--set", action="append", metavar="FIELD=VALUE", help="repeatable; VALUE may be JSON")
    visit = add("new-visit", cmd_new_visit, "record a new home visit offline (a draft)")
    visit.add_argument("case_id")
    visit.add_argument(
        "--type", default="planned", choices=["statutory", "planned", "unannounced", "early_help", "other"]
    )
    visit.add_argument("--date", help="when the visit happened (ISO 8601, default now)")
    visit.add_argument("--set", action="append", metavar="FIELD=VALUE", help="repeatable; VALUE may be JSON")
    add(
        "discard", cmd_discard, "give up a refused local edit and take the server's version back"
    ).add_argument("id")
    add("status", cmd_status, "last sync, unsent edits, refused documents").add_argument(
        "--json", action="store_true"
    )
    add("wipe", cmd_wipe, "erase this device's Doorstep data").add_argument(
        "--yes", action="store_true", help="do not ask"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    server = args.server or os.environ.get("DOORSTEP_SERVER")
    retries = os.environ.get("DOORSTEP_RETRIES", "4")
    if not retries.isdigit():
        print("doorstep: DOORSTEP_RETRIES must be a whole number", file=sys.stderr)
        return EXIT_USAGE
    try:
        with DoorstepClient(args.home, server, retries=int(retries)) as client:
            code: int = args.run(client, args)
            return code
    except ClientError as exc:
        print(f"doorstep: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except SyncError as exc:
        print(f"doorstep: {exc.reason}", file=sys.stderr)
        return EXIT_ERROR
    except sqlite3.Error as exc:
        print(f"doorstep: the local replica cannot be used: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # output piped into `head`, say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (silences the flush at exit)
        return 0
    except KeyboardInterrupt:
        print("doorstep: interrupted (a sync resumes from its last checkpoint)", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("DOORSTEP_DEBUG"):
            raise
        # The message of an unexpected error might quote data: name its type only.
        print(
            f"doorstep: unexpected error ({type(exc).__name__}); set DOORSTEP_DEBUG=1 for details",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
