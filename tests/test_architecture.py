"""The shape of the code, checked from the source: layers without circles, files a person can read.

These read `hiretrack/` as text with `ast` (no app, no database, nothing imported), so they run
once, on the SQLite pass, and a circle fails here even when the import order of the day happens
to load. Layers point down (models <- queries <- services <- routes/api/cli, see
docs/architecture.md); an import inside a function to dodge a circle hides the circle, so only
the app factory may import inside a function (it imports every part, and importing it must not
load the whole app), and `if TYPE_CHECKING:` imports are for annotations.
"""

import ast
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL

PACKAGE = Path(__file__).resolve().parent.parent / "hiretrack"

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="reads the source only; it runs once, on the SQLite pass"
)

#: Modules that may import inside a function: the app factory (`create_app`) only.
FUNCTION_IMPORTS_ALLOWED = frozenset({"hiretrack"})

#: Lines a module may have: past this it does several jobs; split it by sub-area.
MAX_MODULE_LINES = 600
#: Lines a function may have (from `def` to its last line) unless its docstring says why it must
#: be one piece, with the words "one piece".
MAX_FUNCTION_LINES = 80


@dataclass
class ImportGraph:
    """Which module imports which, and the imports made inside functions."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    #: (module, line, imported module, enclosing function) for each import inside a function.
    function_imports: list[tuple[str, int, str, str]] = field(default_factory=list)


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their `__init__.py`)."""
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "_bundled" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportCollector(ast.NodeVisitor):
    """Collect one module's imports of the package, noting those made inside a function."""

    def __init__(self, module: str, is_package: bool, known: dict[str, Path], graph: ImportGraph):
        self.module, self.is_package, self.known, self.graph = module, is_package, known, graph
        self.functions: list[str] = []
        self.graph.edges.setdefault(module, set())

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:  # only the `else` branch runs
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in self.known else base, node)

    def _add(self, name: str, node: ast.stmt) -> None:
        while name and name not in self.known:
            name = name.rpartition(".")[0]
        if not name or name == self.module:
            return
        self.graph.edges[self.module].add(name)
        if self.functions:
            self.graph.function_imports.append(
                (self.module, node.lineno, name, ".".join(self.functions))
            )


def build_import_graph(package_dir: Path = PACKAGE) -> ImportGraph:
    """Read every module of the package and record its imports of the package's modules."""
    known = module_names(package_dir)
    graph = ImportGraph()
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        _ImportCollector(module, path.name == "__init__.py", known, graph).visit(tree)
    return graph


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle once, as the modules along it (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = lowlink[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(edges.get(module, ())):
            if target not in index:
                visit(target)
                lowlink[module] = min(lowlink[module], lowlink[target])
            elif target in on_stack:
                lowlink[module] = min(lowlink[module], index[target])
        if lowlink[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return [_circle_through(component, edges) for component in components]


def _circle_through(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One concrete circle inside a strongly connected component, for a readable message."""
    members, start = set(component), component[0]
    path, seen = [start], {start}
    while True:
        following = sorted(edges[path[-1]] & members)
        if start in following and len(path) > 1:
            return [*path, start]
        step = next((m for m in following if m not in seen), following[0])
        if step in seen:
            return [*path[path.index(step) :], step]
        path.append(step)
        seen.add(step)


# --- The package itself --------------------------------------------------------------------------


def test_the_modules_of_hiretrack_import_each_other_without_a_circle():
    graph = build_import_graph()
    # The graph is the real one: these edges exist, so an empty graph cannot pass.
    assert "hiretrack.messages.outbox" in graph.edges["hiretrack.messages.services"]
    assert "hiretrack.holds.queries" in graph.edges["hiretrack.dashboard.queries"]

    circles = find_cycles(graph.edges)

    assert circles == [], "Import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_only_the_app_factory_imports_inside_a_function():
    graph = build_import_graph()
    hidden = [
        f"{module} line {line}: imports {target} inside {function}()"
        for module, line, target, function in graph.function_imports
        if module not in FUNCTION_IMPORTS_ALLOWED
    ]

    assert hidden == [], "Move these imports to the top of their module:\n" + "\n".join(hidden)


def _calls(name: str) -> list[str]:
    """The modules of hiretrack that call `name(...)` (a class or a function, by its name)."""
    callers = []
    for module, path in module_names(PACKAGE).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else None
                called = node.func.attr if isinstance(node.func, ast.Attribute) else called
                if called == name:
                    callers.append(module)
    return sorted(set(callers))


def test_one_door_queues_every_email_and_one_helper_makes_message_ids():
    assert _calls("OutboxEmail") == ["hiretrack.messages.outbox"]
    assert _calls("make_msgid") == ["hiretrack.messages.outbox"]
    # The door is used: candidate messages, staff notices and digests all go through it.
    assert _calls("queue_email") == ["hiretrack.messages.outbox", "hiretrack.messages.services"]
    assert _calls("queue_staff_email") == [
        "hiretrack.cadence.reminders",
        "hiretrack.status.services",
    ]


# --- The checks catch what they look for ---------------------------------------------------------


def _package(tmp_path: Path, modules: dict[str, str]) -> Path:
    package = tmp_path / "hiretrack"
    for name, source in {"__init__": "", **modules}.items():
        path = package / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    package = _package(
        tmp_path,
        {
            "shop/__init__": "",
            "shop/orders": "from hiretrack.shop.stock import reserve\n",
            "shop/stock": "def reserve():\n    from hiretrack.shop import orders\n",
            "shop/models": "",
        },
    )
    graph = build_import_graph(package)

    assert find_cycles(graph.edges) == [
        ["hiretrack.shop.orders", "hiretrack.shop.stock", "hiretrack.shop.orders"]
    ]
    assert graph.function_imports == [
        ("hiretrack.shop.stock", 2, "hiretrack.shop.orders", "reserve")
    ]


def test_type_checking_imports_and_relative_imports_are_read_as_python_does(tmp_path):
    package = _package(
        tmp_path,
        {
            "a": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from hiretrack import b\n",
            "b": "from . import a\nfrom .c import thing\n",
            "c": "thing = 1\n",
        },
    )
    graph = build_import_graph(package)

    assert graph.edges["hiretrack.a"] == set()
    assert graph.edges["hiretrack.b"] == {"hiretrack.a", "hiretrack.c"}
    assert find_cycles(graph.edges) == []


# --- Files and functions a person can hold in their head ---------------------------------------


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
