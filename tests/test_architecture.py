"""The shape of the code, checked from the source: files and functions a person can hold in their head.

These read `hiretrack/` as text (no app, no database), so they run once, on the SQLite pass.
"""

import ast
import textwrap
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

PACKAGE = Path(__file__).resolve().parent.parent / "hiretrack"

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="reads the source only; it runs once, on the SQLite pass"
)

#: Lines a module may have: past this it does several jobs; split it by sub-area.
MAX_MODULE_LINES = 600
#: Lines a function may have (from `def` to its last line) unless its docstring says why it must
#: be one piece, with the words "one piece".
MAX_FUNCTION_LINES = 80

#: Modules and functions still being split (issue 14); this list only shrinks.
NOT_YET_SPLIT = {
    "cadence/reminders.py",
    "messages/delivery.py",
    "messages/services.py",
}


def source_files() -> list[Path]:
    """Every Python module of the package, bundled copies excluded."""
    return sorted(
        path for path in PACKAGE.rglob("*.py") if "_bundled" not in path.relative_to(PACKAGE).parts
    )


def name_of(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_no_module_is_longer_than_a_person_can_hold_in_their_head():
    too_long = [
        f"{name_of(path)}: {lines} lines"
        for path in source_files()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
        and name_of(path) not in NOT_YET_SPLIT
    ]
    assert too_long == [], f"Split these modules by sub-area (at most {MAX_MODULE_LINES} lines)"


def long_functions(path: Path) -> list[tuple[str, int]]:
    """(name, lines) of each function or method in a module longer than MAX_FUNCTION_LINES."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        lines = node.end_lineno - node.lineno + 1
        reason = (ast.get_docstring(node) or "").lower()
        if lines > MAX_FUNCTION_LINES and "one piece" not in reason:
            found.append((node.name, lines))
    return found


def test_no_function_is_longer_than_a_screenful_or_two_without_saying_why():
    too_long = [
        f"{name_of(path)}:{name}: {lines} lines"
        for path in source_files()
        for name, lines in long_functions(path)
        if f"{name_of(path)}:{name}" not in NOT_YET_SPLIT
    ]
    assert too_long == [], (
        f"Split these functions (at most {MAX_FUNCTION_LINES} lines), or say in the docstring "
        "why each must be one piece"
    )


def test_the_size_checks_see_every_module_and_every_long_function(tmp_path):
    """Guard the guard: the walk finds the package, and a long function unless it says why."""
    files = source_files()
    assert PACKAGE / "__init__.py" in files
    assert PACKAGE / "messages" / "rendering" / "sandbox.py" in files
    body = "".join(f"    x{number} = {number}\n" for number in range(MAX_FUNCTION_LINES))
    module = tmp_path / "long.py"
    module.write_text(
        f"class Holder:\n    def long(self):\n{textwrap.indent(body, '    ')}\n\n"
        f'def explained():\n    """Stays one piece: a reason."""\n{body}\n\n'
        f"def short():\n    return 1\n"
    )
    assert long_functions(module) == [("long", MAX_FUNCTION_LINES + 1)]
