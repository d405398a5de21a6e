"""Stream one report's CSV export to nowhere and say how long it took and how much memory it used.

    python bench/export_probe.py holds|closure DATABASE_URL [--all-time]

Run as its own process by run.py, so the peak resident set size (VmHWM) belongs to this export
alone: "idle" is the process after imports and app start, "peak" the most it held at any time.
"""

import argparse
import json
import time
from datetime import date

from benchlib import bench_app


def memory_mb(field: str) -> float:
    """A VmRSS / VmHWM figure of this process from /proc, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", choices=["holds", "closure"])
    parser.add_argument("database_url")
    parser.add_argument("--all-time", action="store_true", help="every row ever, not the default")
    args = parser.parse_args()
    from hiretrack.auth.models import Role, User
    from hiretrack.reports.exports import csv_chunks
    from hiretrack.reports.services import build_report

    app = bench_app(args.database_url)
    with app.app_context():
        reader = User(role=Role.ADMIN.value, name="Benchmark")  # the CLI's organisation-wide view
        today = date.today()
        values = {"from": date(today.year - 6, 1, 1).isoformat()} if args.all_time else {}
        idle = memory_mb("VmRSS")
        started = time.perf_counter()
        report = build_report(args.report, reader, values)
        lines = size = 0
        with open("/dev/null", "w") as sink:
            for chunk in csv_chunks(report):
                sink.write(chunk)
                lines += 1
                size += len(chunk)
        seconds = time.perf_counter() - started
        peak = memory_mb("VmHWM")
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "csv_lines": lines,
                "csv_mb": round(size / 2**20, 2),
                "idle_mb": round(idle, 1),
                "peak_mb": round(peak, 1),
                "growth_mb": round(peak - idle, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
