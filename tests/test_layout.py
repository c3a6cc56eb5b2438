"""The tree's rules, checked: no import cycles, no import inside a function.

Every module of ``reactor`` and ``chat`` is parsed (not imported); an edge
A -> B is any import of B (or of a name from B) anywhere in A. A cycle
would mean two modules that cannot be understood, or loaded, one without
the other; an import inside a function is how such cycles hide.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("reactor", "chat")


def module_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            yield ".".join(parts), is_package, path


def imported_modules(name, is_package, tree, known):
    """Every module of ours that ``tree`` imports, anywhere."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = target + "." + alias.name
                if full in known:
                    yield full, node
                elif target in known:
                    yield target, node


def graph():
    files = list(module_files())
    known = {name for name, _, _ in files}
    edges, nested = {}, []
    for name, is_package, path in files:
        tree = ast.parse(path.read_text(), str(path))
        top_level = set(map(id, tree.body))
        edges[name] = set()
        for target, node in imported_modules(name, is_package, tree, known):
            if target != name and not name.startswith(target + "."):
                edges[name].add(target)   # a package's own __init__ is not a cycle
            if id(node) not in top_level:
                nested.append("%s:%d imports %s" % (path.relative_to(ROOT), node.lineno, target))
    return edges, nested


def find_cycle(edges):
    """One cycle as a list of modules, or None (depth-first, colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_in_a_cycle():
    edges, _ = graph()
    assert len(edges) > 40   # the walk found the tree
    assert find_cycle(edges) is None


def test_no_import_inside_a_function():
    _, nested = graph()
    assert nested == []


def test_the_core_imports_no_store_and_no_glue():
    """The core is pure: its store is handed in, and it knows no server,
    client, reactor or store module."""
    edges, _ = graph()
    for name, targets in edges.items():
        if name.startswith("chat.core"):
            bad = [t for t in targets if t.startswith(("chat.store", "chat.server", "chat.client",
                                                        "reactor"))]
            assert bad == [], name


def test_the_shared_vocabulary_imports_no_face():
    """chat.protocol, chat.router and chat.limits are shared by the server,
    the clients and the checker: they import none of them."""
    edges, _ = graph()
    for name in ("chat.protocol", "chat.router", "chat.limits"):
        assert not [t for t in edges[name] if t.startswith(("chat.server", "chat.client",
                                                              "chat.check", "chat.core"))]


def test_reactor_knows_no_chat():
    edges, _ = graph()
    for name, targets in edges.items():
        if name.startswith("reactor"):
            assert not [t for t in targets if t.startswith("chat")], name


def test_no_test_file_imports_another():
    """What tests share lives in support modules (tests/*_support.py)."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += ["%s imports %s" % (path.relative_to(ROOT), name)
                          for name in names if name.split(".")[0].startswith("test_")]
    assert offenders == []
