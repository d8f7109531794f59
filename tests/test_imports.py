"""The package's imports go one way (issue 24, part 4): every module imports on its own, the
graph of its imports of its own modules (module level and inside functions alike) has no
cycle, hardware.py imports nothing of the package, and an import inside a function is there
for a stated reason (ALLOWED_LOCAL), never to dodge a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import waferrepro

PACKAGE = Path(waferrepro.__file__).resolve().parent

# Third-party libraries slow to import, which the command line's start-up does without.
HEAVY = ("numpy", "pandas", "matplotlib", "scipy", "jsonschema")

# Modules that every `waferrepro ...` call (one per Snakemake job) loads through
# waferrepro.cli: a function-local import there keeps a HEAVY library out of that start-up
# (test_startup_reasons_hold checks each one still does).
STARTUP = "keeps a HEAVY library out of the command line's start-up"
ALLOWED_LOCAL = {
    # importer: (what it imports inside functions, why)
    "waferrepro.presets": ({"waferrepro.meshsim", "waferrepro.meshsim.comm"}, STARTUP),
    "waferrepro.validate": ({"waferrepro.meshsim", "waferrepro.meshsim.comm"}, STARTUP),
    "waferrepro.scorecard.verdicts": ({"waferrepro.tables", "waferrepro.training",
                                       "waferrepro.scorecard.claims"}, STARTUP),
}
# The command line's subcommands import their topic when they run, so a command loads only
# what it uses; nothing in the package imports waferrepro.cli (checked), so these can never
# hide a cycle.
COMMAND_LINE = "waferrepro.cli"


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _modules()


def _targets(module: str, is_package: bool, node) -> set[str]:
    """The package modules an import statement loads (a name imported from a package that is
    one of its submodules counts as that submodule)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.split(".")[0] == "waferrepro"}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != "waferrepro":
        return set()
    return {f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
            for a in node.names}


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) of each import of the package's own modules
    in `module`; `if TYPE_CHECKING:` blocks never run and are left out."""
    path, is_package = MODULES[module]
    found = []

    def walk(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((t, child.lineno, in_function)
                             for t in _targets(module, is_package, child) if t != module)
            walk(child, in_function
                 or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    walk(ast.parse(path.read_text()), False)
    return found


IMPORTS = {m: _imports(m) for m in MODULES}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _edges() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports} for m, imports in IMPORTS.items()}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_every_module_imports_on_its_own():
    """Each module in a fresh interpreter: no module works only after another was imported."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda m: _run(f"import {m}"), MODULES))
    results = dict(zip(MODULES, runs, strict=True))
    failed = {m: r.stderr.strip().splitlines()[-1:] for m, r in results.items() if r.returncode}
    assert not failed


def test_no_import_cycles():
    assert _cycles(_edges()) == []


def test_hardware_imports_nothing_of_the_package():
    """The hardware facts are the bottom of the graph: loading a profile and checking overrides
    live above them (waferrepro.hardware_profiles)."""
    assert IMPORTS["waferrepro.hardware"] == []


def test_function_local_imports_are_listed():
    unlisted = sorted(
        f"{m}:{line} imports {t}" for m, imports in IMPORTS.items()
        for t, line, local in imports
        if local and not m.startswith(f"{COMMAND_LINE}.")
        and t not in ALLOWED_LOCAL.get(m, (set(), ""))[0])
    assert not unlisted, "hoist these to module level, or list them with a reason"
    stale = sorted(f"{m} -> {t}" for m, (targets, _) in ALLOWED_LOCAL.items() for t in targets
                   if not any(local and t == u for u, _, local in IMPORTS[m]))
    assert not stale, "listed but no longer imported inside a function: drop them"


def test_nothing_imports_the_command_line():
    importers = sorted(m for m, imports in IMPORTS.items()
                       if not (m == COMMAND_LINE or m.startswith(f"{COMMAND_LINE}.")
                               or m == "waferrepro.__main__")
                       and any(t.startswith(COMMAND_LINE) for t, _, _ in imports))
    assert importers == []


def test_command_line_starts_without_heavy_libraries():
    """`import waferrepro.cli` (every `waferrepro` call) loads none of HEAVY, nor yaml: the
    reason the STARTUP entries give."""
    run = _run("import sys, waferrepro.cli; "
               f"print(sorted({{*{HEAVY!r}, 'yaml'}} & set(sys.modules)))")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_startup_reasons_hold():
    """Each STARTUP entry's module is loaded by the command line's start-up, and what it
    imports inside functions would add a HEAVY library to that start-up."""
    probe = ("import sys, importlib; import waferrepro.cli; before = set(sys.modules); "
             "{extra}print(' '.join(sorted(before)) + '|' + ' '.join(sorted(set(sys.modules) "
             "- before)))")
    pairs = [(m, t) for m, (targets, why) in ALLOWED_LOCAL.items() if why == STARTUP
             for t in sorted(targets)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda p: _run(probe.format(
            extra=f"importlib.import_module({p[1]!r}); ")), pairs))
    for (module, target), run in zip(pairs, runs, strict=True):
        assert run.returncode == 0, run.stderr
        startup, added = (set(part.split()) for part in run.stdout.strip().split("|"))
        assert module in startup, f"{module} is no longer in the start-up: hoist its imports"
        assert {name.split(".")[0] for name in added} & set(HEAVY), (
            f"{module} -> {target} adds no {HEAVY} to the start-up: hoist it")
