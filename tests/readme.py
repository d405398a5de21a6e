"""The README's "Try it" commands, read from the README itself, so a changed README is what runs.

tests/test_readme.py runs the first (the demo) from a fresh clone; `.ci/run` runs the second
(the tests): `python -m tests.readme 1` prints it.
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def try_it_commands(readme: str | None = None) -> list[str]:
    """The shell blocks of the README's "Try it" section, in order."""
    text = README.read_text(encoding="utf-8") if readme is None else readme
    section = re.search(r"^## Try it.*?$(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    if section is None:
        raise LookupError("the README has no '## Try it' section")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section[1], re.DOTALL)]


if __name__ == "__main__":
    print(try_it_commands()[int(sys.argv[1])])
