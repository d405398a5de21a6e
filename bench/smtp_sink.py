"""A loopback SMTP sink for the delivery benchmark: accepts every message, counts, parses nothing.

Runs tests/smtp_server.py's server in its own process (so it does not share the GIL with the
sender), prints its port, and stops when its standard input closes or after --lifetime seconds,
printing how many messages it accepted.
"""

import argparse
import sys
import threading

from benchlib import REPOSITORY_DIR  # noqa: F401  (puts the checkout on sys.path)

from tests.smtp_server import SmtpServer


class CountingHandler:
    """Accept each message at the end of DATA without parsing it."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd's name)
        self.accepted += 1
        return "250 2.0.0 Message accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifetime", type=float, default=900, help="stop after this many seconds")
    args = parser.parse_args()
    handler = CountingHandler()
    server = SmtpServer(handler)
    server.start()
    print(f"PORT {server.port}", flush=True)
    stopped = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stopped.set()), daemon=True).start()
    stopped.wait(args.lifetime)
    server.stop()
    print(f"ACCEPTED {handler.accepted}", flush=True)


if __name__ == "__main__":
    main()
