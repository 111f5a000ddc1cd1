"""Where heavy dependencies may be imported, and that hwsearch's modules import one another without cycles.

The imports are read from the source (every import statement, in functions too, except
those under ``if TYPE_CHECKING:``), and then checked once more by importing for real.
"""

from __future__ import annotations

import ast
import graphlib
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from hwsearch._lazy import EXPORTS_ATTR

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hwsearch"
# heavy dependency -> the only parts of hwsearch allowed to import it
ROOMS = {
    "optuna": ("hwsearch.search",),
    "onnxruntime": ("hwsearch.latency",),
    "matplotlib": ("hwsearch.report",),
    "torch": (
        "hwsearch.model",
        "hwsearch.proxy.train",
        "hwsearch.proxy.shortcuts",
        "hwsearch.proxy.zero_cost",
        "hwsearch.export",
        "hwsearch.training",
        # PyTorch's CUDA timing path; it imports torch inside its functions only (checked below).
        "hwsearch.latency._torch_cuda",
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py"}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports (absolute names; ``from X import y`` gives ``X.y`` when that is a module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: from the package, one level up per extra dot
                    parts = package.split(".")
                    base = ".".join([*parts[: len(parts) - child.level + 1], base]).strip(".")
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _inside(module: str, rooms: tuple[str, ...]) -> bool:
    return any(module == room or module.startswith(room + ".") for room in rooms)


@pytest.mark.parametrize("dependency", sorted(ROOMS))
def test_heavy_dependencies_are_imported_only_in_their_room(dependency):
    offenders = sorted(name for name in MODULES if not _inside(name, ROOMS[dependency])
                       and any(_inside(i, (dependency,)) for i in imports_of(name)))  # fmt: skip
    assert offenders == [], f"{dependency} imported outside {ROOMS[dependency]}"


def _resolve(target: str) -> str | None:
    """The hwsearch module an import of ``target`` runs: a lazily re-exported name runs its sub-module."""
    if target in MODULES:
        return target
    parent, _, attr = target.rpartition(".")
    if parent in MODULES:
        exports = getattr(importlib.import_module(parent), EXPORTS_ATTR, {})
        if attr in exports:
            return f"{parent}.{exports[attr]}"
        return parent
    return None


def test_hwsearch_modules_import_one_another_without_a_cycle():
    graph = {name: {r for i in imports_of(name) if (r := _resolve(i)) not in (None, name)} for name in MODULES}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_cli_imports_no_optuna_and_search_no_cli():
    for name in MODULES:
        if name.startswith("hwsearch.cli"):
            assert not any(_inside(i, ("optuna",)) for i in imports_of(name)), name
        if name.startswith(("hwsearch.search", "hwsearch.latency", "hwsearch.report")):
            assert not any(_inside(i, ("hwsearch.cli",)) for i in imports_of(name)), name


@pytest.mark.parametrize("package", ["hwsearch.latency", "hwsearch.search"])
def test_a_lazy_package_exports_what_it_names_for_type_checkers(package):
    module = importlib.import_module(package)
    exports = getattr(module, EXPORTS_ATTR)
    tree = ast.parse(MODULES[package].read_text())
    typed = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node)
             for child in node.body if isinstance(child, ast.ImportFrom) for alias in child.names}  # fmt: skip
    assert typed == set(exports) == set(module.__all__)
    for name, sub in exports.items():
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{sub}"), name)


def test_sub_modules_of_a_lazy_package_never_import_the_package_back():
    for package in ("hwsearch.latency", "hwsearch.search"):
        for name in MODULES:
            if name.startswith(package + "."):
                assert package not in imports_of(name), name


def _loaded_after(statements: str) -> list[str]:
    code = f"import sys\n{statements}\nprint(sorted(m for m in {sorted(ROOMS)!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_search_report_and_latency_load_no_torch():
    light = [n for n in MODULES if n.startswith(("hwsearch.search", "hwsearch.report", "hwsearch.latency"))]
    assert "torch" not in _loaded_after(f"for name in {light!r}:\n    __import__(name)")
    # The issue's own check, as a user would type it.
    assert _loaded_after("import hwsearch.search.objective, hwsearch.report") == ["optuna"]


def test_the_cli_loads_no_heavy_library_until_a_command_needs_it():
    assert _loaded_after("import hwsearch.cli; hwsearch.cli.build_parser()") == []
