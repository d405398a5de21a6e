"""Time each phase of the delivery worker on the bench database: where a message's time goes.

Queues the bench's check-ins (one per application, as `run.py --cases deliver_10k` does), drains
them into the counting SMTP sink for at most --seconds, and prints wall and CPU milliseconds per
message sent for the whole drain and for each phase, each timed by wrapping its function (a
phase run on another thread, such as the sender, shows its own wall time). Everything it queued
is removed afterwards.

    .venv/bin/python bench/profile_delivery.py [--database-url URL] [--seconds 20]
"""

import argparse
import functools
import logging
import threading
import time
from collections import defaultdict

from run import QueuedMessages, Sink, bench_app, database_url, one_per_application, render_case

#: (module, function) pairs timed, in the order printed.
PHASES = [
    ("hiretrack.messages.claims", "claim_rows"),
    ("hiretrack.messages.premise", "withdraw_untrue"),
    ("hiretrack.messages.backends", "build_envelope"),
    ("hiretrack.messages.backends", "SMTPBackend.send"),
    ("hiretrack.messages.delivery", "_record_results"),
]


def wrap(totals: dict, module, name: str) -> None:
    """Replace module.name (or Class.method) with a version that adds up its wall and CPU time."""
    owner, attribute = module, name
    if "." in name:
        class_name, attribute = name.split(".")
        owner = getattr(module, class_name)
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            entry = totals[name]
            entry[0] += time.perf_counter() - started
            entry[1] += time.thread_time() - cpu

    setattr(owner, attribute, timed)
    # Modules that imported the function by name call their own reference.
    for other in ("hiretrack.messages.delivery", "hiretrack.messages.premise"):
        imported = __import__(other, fromlist=["x"])
        if getattr(imported, attribute, None) is original and owner is module:
            setattr(imported, attribute, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: $HIRETRACK_DATABASE_URL or bench.sqlite")
    parser.add_argument("--seconds", type=float, default=20, help="longest the drain may run")
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    url = database_url(args.database_url)
    sink = Sink()
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    try:
        app = bench_app(url, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
        logging.getLogger("hiretrack").setLevel(logging.WARNING)
        with app.app_context():
            from hiretrack.messages import delivery

            recipients, rendered = one_per_application(*render_case(args.messages, {}))
            for module_name, name in PHASES:
                wrap(totals, __import__(module_name, fromlist=["x"]), name)
            with QueuedMessages(recipients, rendered) as queued:
                stop = threading.Event()
                timer = threading.Timer(args.seconds, stop.set)
                started, cpu = time.perf_counter(), time.process_time()
                timer.start()
                try:
                    delivery.drain("profile-worker", 100, stop=stop)
                finally:
                    timer.cancel()
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                sent = queued.figures()["sent"]
    finally:
        sink.stop()
    per = 1000 / max(sent, 1)
    print(
        f"\n{sent} sent in {wall:.1f} s: {sent / wall:.0f} msg/s, claim size "
        f"{app.config['DELIVERY_CLAIM_SIZE']}"
    )
    print(f"{'phase, per message sent':<32} {'wall ms':>8} {'CPU ms':>8}")
    print(f"{'whole drain (process CPU)':<32} {wall * per:>8.3f} {cpu * per:>8.3f}")
    for _, name in PHASES:
        phase_wall, phase_cpu = totals[name]
        print(f"{name:<32} {phase_wall * per:>8.3f} {phase_cpu * per:>8.3f}")


if __name__ == "__main__":
    main()
