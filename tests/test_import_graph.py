"""No import circle among the project's modules: `AcyclicModulesContract`, a contract type
of import-linter's (`make lint` checks it, pyproject.toml [tool.importlinter]), and the
tests below, which check it finds a circle and that the project has none.

A circle counts whichever way it is made: a function-level import ("imported here, to
avoid an import cycle") is a circle all the same, only one Python does not trip on at
import time. import-linter's own `acyclic_siblings` looks for circles between the
siblings of one package only; a circle across packages (myproject/celery.py and
workers/liveness.py importing each other, once) is not one it sees.
"""

from importlinter import Contract, ContractCheck, fields, output

PACKAGES = ["api", "workers", "predictor", "myproject"]


def import_circles(graph, packages) -> list[list[str]]:
    """One circle, shortest through its first module, for each group of modules that import
    one another (a strongly connected component of the import graph, Tarjan's algorithm
    without recursion); each circle lists its modules in import order, sorted by the first."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in packages)
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(imports[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            for imported in successors:
                if imported not in imports:  # outside the packages (the standard library...)
                    continue
                if imported not in index:
                    index[imported] = low[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(imports[imported])))
                    break
                if imported in on_stack:
                    low[module] = min(low[module], index[imported])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        groups.append(group)
    return sorted(_circle_through(min(group), group, imports) for group in groups)


def _circle_through(start: str, group: set[str], imports: dict[str, list[str]]) -> list[str]:
    """The shortest way from `start` back to itself within `group` (breadth first)."""
    came_from = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for imported in imports[module]:
                if imported == start:
                    circle = [module]
                    while circle[-1] != start:
                        circle.append(came_from[circle[-1]])
                    return circle[::-1]
                if imported in group and imported not in came_from:
                    came_from[imported] = module
                    following.append(imported)
        frontier = following
    raise AssertionError(f"{start} is in no circle")  # a strongly connected group always has one


class AcyclicModulesContract(Contract):
    """No module of `packages` imports, directly or through others, one that imports it."""

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        circles = import_circles(graph, set(self.packages))
        return ContractCheck(kept=not circles, metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for circle in check.metadata["circles"]:
            output.print_error("Import circle:")
            for module, imported in zip(circle, circle[1:] + circle[:1], strict=True):
                output.print_error(f"- {module} -> {imported}", bold=False)
            output.new_line()


def test_a_circle_is_found_and_shown_whatever_its_length():
    import grimp

    graph = grimp.ImportGraph()
    for importer, imported in [
        ("app.a", "app.b"),
        ("app.b", "app.a"),  # a -> b -> a
        ("app.c", "wiring.d"),
        ("wiring.d", "app.e"),
        ("app.e", "app.c"),  # c -> d -> e -> c, across two packages
        ("app.e", "app.f"),  # f is in no circle
        ("app.f", "os"),
    ]:
        graph.add_import(importer=importer, imported=imported)

    assert import_circles(graph, {"app", "wiring"}) == [["app.a", "app.b"], ["app.c", "wiring.d", "app.e"]]
    graph.remove_import(importer="app.b", imported="app.a")
    assert import_circles(graph, {"app", "wiring"}) == [["app.c", "wiring.d", "app.e"]]
    assert import_circles(graph, {"app"}) == []  # the only way back leads through wiring


def test_the_project_has_no_import_circle():
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    circles = import_circles(graph, set(PACKAGES))
    assert not circles, "import circles: " + "; ".join(" -> ".join([*c, c[0]]) for c in circles)
