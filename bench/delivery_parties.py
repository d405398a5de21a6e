"""CPU a message of each party to a delivery: where the worker's rate against a bare loop goes.

Queues the bench's check-ins (one per application, as `run.py --cases deliver_10k` does) and
drains them --rounds times, each drain between two runs of the bare smtplib loop over the same
sink, and prints per message sent: the rate and its ratio to the loop's, the worker's process
CPU split into its bookkeeping thread (each task it runs, timed by the thread's own clock) and
the rest (the sending thread), PostgreSQL's server processes (read from /proc: a local server
only) and the SMTP sink's process. All of them share the machine's cores.

    .venv/bin/python bench/delivery_parties.py [--database-url URL] [--rounds 5]
"""

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

from run import (
    BASELINE_MESSAGES,
    QueuedMessages,
    Sink,
    bare_loop,
    bench_app,
    database_url,
    one_per_application,
    render_case,
)

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | str) -> float:
    """User and system CPU seconds of a process so far; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgresql_cpu() -> float:
    """CPU seconds of every local PostgreSQL process so far."""
    total = 0.0
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if (process / "comm").read_text().strip() == "postgres":
                total += process_cpu(process.name)
        except OSError:
            continue
    return total


class BookkeepingClock:
    """Add up the CPU of every task the delivery worker's bookkeeping thread runs."""

    def __init__(self) -> None:
        from hiretrack.messages import bookkeeping

        self.seconds = 0.0
        submit = bookkeeping.Bookkeeper.submit
        clock = self

        def timed_submit(books, task, *args):
            def timed(*arguments):
                started = time.thread_time()
                try:
                    return task(*arguments)
                finally:
                    clock.seconds += time.thread_time() - started

            return submit(books, timed, *args)

        bookkeeping.Bookkeeper.submit = timed_submit


def one_round(recipients: list, rendered: list, sink: Sink, books: BookkeepingClock) -> dict:
    """One drain between two runs of the bare loop: its figures per message sent."""
    from hiretrack.extensions import db
    from hiretrack.messages import delivery
    from hiretrack.messages.backends import build_envelope

    with QueuedMessages(recipients, rendered) as queued:
        envelopes = [build_envelope(row) for row in queued.outbox_rows(BASELINE_MESSAGES)]
        db.session.expunge_all()
        loop_before, _ = bare_loop(envelopes, sink)
        books.seconds = 0.0
        cpu, sink_cpu, server_cpu = (
            time.process_time(),
            process_cpu(sink.process.pid),
            postgresql_cpu(),
        )
        started = time.perf_counter()
        delivery.drain("parties-worker", 100)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        sink_cpu = process_cpu(sink.process.pid) - sink_cpu
        server_cpu = postgresql_cpu() - server_cpu
        loop_after, _ = bare_loop(envelopes, sink)
        sent = queued.figures()["sent"]
    per = 1000 / max(sent, 1)
    loop_rate = 2 * len(envelopes) / (loop_before + loop_after)
    return {
        "msg/s": sent / wall,
        "ratio": sent / wall / loop_rate,
        "process ms": cpu * per,
        "bookkeeping ms": books.seconds * per,
        "sender ms": (cpu - books.seconds) * per,
        "postgresql ms": server_cpu * per,
        "sink ms": sink_cpu * per,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: $HIRETRACK_DATABASE_URL or bench.sqlite")
    parser.add_argument("--rounds", type=int, default=5, help="drains, each between two loops")
    parser.add_argument("--messages", type=int, default=10_000, help="drafts to render")
    args = parser.parse_args()
    sink = Sink()
    try:
        app = bench_app(
            database_url(args.database_url),
            MAIL_BACKEND="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=sink.port,
        )
        logging.getLogger("hiretrack").setLevel(logging.WARNING)
        with app.app_context():
            books = BookkeepingClock()
            recipients, rendered = one_per_application(*render_case(args.messages, {}))
            rounds = []
            for _ in range(args.rounds):
                rounds.append(one_round(recipients, rendered, sink, books))
                print("  ".join(f"{key} {value:.3f}" for key, value in rounds[-1].items()))
    finally:
        sink.stop()
    medians = {key: statistics.median(row[key] for row in rounds) for key in rounds[0]}
    print("median  " + "  ".join(f"{key} {value:.3f}" for key, value in medians.items()))


if __name__ == "__main__":
    main()
