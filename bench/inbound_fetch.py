"""How fast `hiretrack inbox fetch --once` records replies from a real IMAP server.

Starts a private dovecot (as the tests do), sends N check-ins through the real send service,
puts a reply to each in the mailbox, then times one fetch pass on a fresh SQLite file (or
--database-url, an empty PostgreSQL database). Run as root (dovecot drops to its own users):

    .venv/bin/python bench/inbound_fetch.py --messages 300
"""

import argparse
import sys
import tempfile
import time
from email import message_from_bytes, policy
from pathlib import Path

from benchlib import REPOSITORY_DIR, sqlalchemy_url

sys.path.insert(0, str(REPOSITORY_DIR))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from hiretrack import create_app  # noqa: E402
from hiretrack.admin.models import Department  # noqa: E402
from hiretrack.auth.services import create_user  # noqa: E402
from hiretrack.candidates.services import apply_to_requisition, create_candidate  # noqa: E402
from hiretrack.extensions import db  # noqa: E402
from hiretrack.inbound.imap import fetch_once  # noqa: E402
from hiretrack.messages.backends import build_envelope  # noqa: E402
from hiretrack.messages.defaults import install_default_templates  # noqa: E402
from hiretrack.messages.models import OutboxEmail  # noqa: E402
from hiretrack.messages.services import choose_template, send_message  # noqa: E402
from hiretrack.requisitions.services import create_requisition  # noqa: E402
from tests.imap_server import ImapServer  # noqa: E402
from tests.mail_builders import reply_to  # noqa: E402


def main() -> None:
    """Seed, fill the mailbox, time one fetch pass, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="inbound-bench-"))
    url = sqlalchemy_url(options.database_url or f"sqlite:///{workdir / 'bench.sqlite'}")
    with ImapServer() as server:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "MAIL_BACKEND": "memory",
                "REPLY_ADDRESS": "replies@hiring.example.com",
            }
            | server.app_config()
        )
        with app.app_context():
            upgrade()
            install_default_templates()
            manager = create_user("m@acme.example", "Maria Manager", "manager", "x" * 12)
            department = Department(name="Engineering")
            db.session.add(department)
            db.session.flush()
            requisition = create_requisition(
                manager, title="Engineer", department_id=department.id, status="open"
            )
            template = choose_template(manager, "check_in")
            for number in range(options.messages):
                candidate = create_candidate(manager, f"Candidate {number}", f"c{number}@ex.org")
                application = apply_to_requisition(manager, candidate, requisition, "final_round")
                send_message(manager, application, template)
            db.session.commit()
            for outbox in db.session.scalars(select(OutboxEmail)):
                ours = message_from_bytes(build_envelope(outbox).content, policy=policy.default)
                server.append(
                    reply_to(ours, "Any news? I have another offer.", sender=outbox.to_address)
                )
            started = time.perf_counter()
            report = fetch_once()
            elapsed = time.perf_counter() - started
    print(report.summary())
    print(
        f"{report.recorded} replies in {elapsed:.1f} s: {report.recorded / elapsed:.0f} per second "
        f"({1000 * elapsed / max(report.recorded, 1):.1f} ms each) on {url.split(':')[0]}"
    )


if __name__ == "__main__":
    main()
