"""CPU time of `backends.build_envelope` per message, on the bench's rendered check-ins.

Renders and queues --messages check-ins as `run.py --cases deliver_10k` does, reads them back as
the claim returns them (plain rows), then builds every envelope --calls times in all, best of
--repeats, by process CPU time, with the parse caches warm as in a running worker. Everything it
queued is removed afterwards. --dump FILE writes every built message (bench rows and a few
unusual ones: non-ASCII, long, quoted names) with a fixed MIME boundary, to compare two versions.

    .venv/bin/python bench/envelope_cost.py [--database-url URL] [--messages 2000] [--dump F]
"""

import argparse
import gc
import itertools
import logging
import time
from datetime import UTC, datetime
from types import SimpleNamespace

from run import QueuedMessages, bench_app, database_url, one_per_application, render_case


def unusual_rows() -> list:
    """Rows that take the slower paths: encoded names and subjects, folding, quoted-printable."""
    base = {
        "id": 1,
        "from_address": "Acme Hiring <hiring@acme.example>",
        "to_address": "ada@example.org",
        "to_name": "Ada Lovelace",
        "reply_to": "Grace Hopper <grace@acme.example>",
        "subject": "Your application",
        "body_text": "Hello\nthere",
        "body_html": "<p>Hello</p>",
        "message_id": "<m1@acme.example>",
        "send_after": None,
        "created_at": datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
        "attempts": 0,
    }
    variants = [
        {},
        {"to_name": "José Müller", "subject": "Ihre Bewerbung – nächste Schritte"},
        {"to_name": 'Smith, "Doc" J.', "reply_to": "hiring@acme.example, Ops <ops@acme.example>"},
        {"subject": "A very long subject " * 8, "body_text": "x" * 1200 + "\nend"},
        {"from_address": "Acme Personalabteilung Zürich <hiring@acme.example>", "reply_to": ""},
        {"to_address": "josé@example.org", "body_html": "<p>Grüße\r\nand\rbye</p>"},
        {"to_address": "Ada <ada@example.org>", "to_name": ""},
        {"subject": "=?utf-8?q?encoded?= in a subject", "body_text": "tab\there\0nul"},
        {"to_name": "Ada\u00a0Lovelace", "subject": "non-breaking\u00a0space"},
        {"send_after": datetime(2026, 12, 6, 8, 0, tzinfo=UTC), "to_name": "O'Brien (IT)"},
        {"to_name": "=?UTF-8?Q?Ada=0ABcc:_x@evil.example?="},  # refused (CVE-2024-6923)
        {"from_address": "Acme <hiring@acme.example>\nBcc: x@evil.example"},  # refused
        {"reply_to": "not an address"},  # refused
    ]
    return [SimpleNamespace(**{**base, **variant, "id": n}) for n, variant in enumerate(variants)]


def dump(rows: list, path: str) -> None:
    """Write each built message (or the refusal) with a fixed boundary, one after the other."""
    from hiretrack.messages import backends, mime

    token_hex = mime.secrets.token_hex
    mime.secrets.token_hex = lambda n: "0" * (2 * n)
    try:
        with open(path, "wb") as handle:
            for row in rows:
                try:
                    envelope = backends.build_envelope(row)
                    handle.write(repr((envelope.sender, envelope.recipient)).encode())
                    handle.write(b"\n" + envelope.content + b"\n=====\n")
                except backends.PermanentFailure as failure:
                    handle.write(f"refused: {failure}\n=====\n".encode())
    finally:
        mime.secrets.token_hex = token_hex


def cpu_per_call(rows: list, calls: int, repeats: int) -> float:
    """Best of `repeats` runs of `calls` builds (cycling through rows): CPU µs per call."""
    from hiretrack.messages.backends import build_envelope

    chosen = list(itertools.islice(itertools.cycle(rows), calls))
    for row in chosen[:500]:  # warm the caches
        build_envelope(row)
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.process_time()
            for row in chosen:
                build_envelope(row)
            best = min(best, time.process_time() - started)
    finally:
        gc.enable()
    return best / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: $HIRETRACK_DATABASE_URL or bench.sqlite")
    parser.add_argument("--messages", type=int, default=2_000, help="check-ins to render")
    parser.add_argument("--calls", type=int, default=5_000, help="builds per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dump", help="write the built messages here (fixed boundary)")
    args = parser.parse_args()
    app = bench_app(database_url(args.database_url))
    logging.getLogger("hiretrack").setLevel(logging.WARNING)
    with app.app_context():
        from sqlalchemy import select

        from hiretrack.extensions import db
        from hiretrack.messages.models import OutboxEmail

        recipients, rendered = one_per_application(*render_case(args.messages, {}))
        with QueuedMessages(recipients, rendered) as queued:
            outbox = OutboxEmail.__table__
            rows = db.session.execute(
                select(*outbox.c).where(outbox.c.id.in_(queued.ids)).order_by(outbox.c.id)
            ).all()
            db.session.rollback()
    if args.dump:  # the same ids and dates on every run, so two dumps compare byte for byte
        fixed = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
        stable = [
            SimpleNamespace(**{**row._asdict(), "message_id": f"<b{n}@hiretrack.bench>"})
            for n, row in enumerate(rows)
        ]
        for row in stable:
            row.created_at = fixed
        dump(stable + unusual_rows(), args.dump)
    figure = cpu_per_call(rows, args.calls, args.repeats)
    print(f"build_envelope: {figure:.1f} µs CPU per call ({len(rows)} distinct rows, ", end="")
    print(f"{args.calls} calls, best of {args.repeats})")


if __name__ == "__main__":
    main()
