"""Mutation testing of the graders: each part's reference answer, changed the ways students get it wrong, must lose
points there.

A mutant is the week's solution with one change inside one part's solution region (between ``### BEGIN
SOLUTION`` and ``### END SOLUTION``). The changes are cosmic-ray's operators (``CORE``: arithmetic, comparison and
unary swaps, numbers off by one, ``True`` for ``False``, loops that never run) and this field's (``FIELD``, below:
swapped dimensions, a dropped ``eval()``/``zero_grad()``/``step()`` or ``no_grad()``, dtype casts, ``squeeze``,
in-place variants, a discarded result, a shape hard-coded from the example, ``print`` for ``return``, a
hard-coded device, a dropped keyword argument, ...). Each mutant is graded through the normal sandbox, by that
part's graders only, and is killed when the part loses a point. Mutants judged equivalent (they compute what the
reference computes on every input the text allows) are listed, with the reason, in
``autograder/course/graders/equivalent_mutants.json``, and do not count.

``benchmarks/mutation.py`` prints each part's kill rate and its survivors; ``tests/test_mutants.py`` grades a few.
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from autograder.course.weeks import GRADERS_DIR, Week

EQUIVALENTS = GRADERS_DIR / "equivalent_mutants.json"
KILL_TARGET = 0.95
"""The share of a part's mutants (those not listed as equivalent) its graders must kill."""

CORE = (  # the swaps students make, of cosmic-ray's operators: not all it has (`a + b` to `a >> b` teaches nothing)
    "ReplaceBinaryOperator_Add_Sub",
    "ReplaceBinaryOperator_Sub_Add",
    "ReplaceBinaryOperator_Mul_Div",
    "ReplaceBinaryOperator_Div_Mul",
    "ReplaceBinaryOperator_Div_FloorDiv",
    "ReplaceBinaryOperator_FloorDiv_Div",
    "ReplaceBinaryOperator_Pow_Mul",
    "ReplaceComparisonOperator_Gt_GtE",
    "ReplaceComparisonOperator_GtE_Gt",
    "ReplaceComparisonOperator_Lt_LtE",
    "ReplaceComparisonOperator_LtE_Lt",
    "ReplaceComparisonOperator_Eq_NotEq",
    "ReplaceComparisonOperator_NotEq_Eq",
    "ReplaceComparisonOperator_Is_IsNot",
    "ReplaceComparisonOperator_IsNot_Is",
    "ReplaceUnaryOperator_Delete_USub",
    "ReplaceTrueWithFalse",
    "ReplaceFalseWithTrue",
    "ReplaceAndWithOr",
    "ReplaceOrWithAnd",
    "NumberReplacer",
    "ZeroIterationForLoop",
)


@dataclass(frozen=True)
class Mutant:
    """One changed answer: its part, the operator that changed it, the changed line, and the cell's new source."""

    week: str
    part: str
    operator: str
    line: str
    source: str


@dataclass
class PartResult:
    part: str
    killed: list[Mutant] = field(default_factory=list)
    survived: list[Mutant] = field(default_factory=list)
    equivalent: list[tuple[Mutant, str]] = field(default_factory=list)
    broken: list[tuple[Mutant, str]] = field(default_factory=list)  # a grader error: the grader's bug, reported

    @property
    def counted(self) -> int:
        return len(self.killed) + len(self.survived)

    @property
    def kill_rate(self) -> float:
        return len(self.killed) / self.counted if self.counted else 1.0


# -- where to mutate ---------------------------------------------------------------------------------------------


def answer_cells(week: Week) -> dict[str, str]:
    """Each part's answer cell in the solution, by grade_id."""
    notebook = nbformat.read(week.solution, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def solution_lines(source: str) -> set[int]:
    """The 1-based lines of ``source`` inside its solution regions."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def example_numbers(week: Week, part: str) -> list[int]:
    """The whole numbers the part's visible self-check uses: what a shape hard-coded from the example would be."""
    notebook = nbformat.read(week.solution, as_version=4)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == f"check_{part}":
            found = {int(n) for n in re.findall(r"(?<![\w.])(\d+)(?![\w.])", cell.source)}
            return sorted(n for n in found if n > 1)[:6]
    return []


# -- the mutants -------------------------------------------------------------------------------------------------


def mutants(week: Week, parts: set[str] | None = None) -> Iterator[Mutant]:
    """Every mutant of the week's answers (only ``parts``, if given), each differing from the reference."""
    for part, source in answer_cells(week).items():
        if parts is not None and part not in parts:
            continue
        region, numbers = solution_lines(source), example_numbers(week, part)
        seen: set[str] = set()
        for operator, mutated in [*_core_mutants(source, region), *_field_mutants(source, region, numbers)]:
            line = changed_line(source, mutated)
            if line is None or mutated in seen or not _compiles(mutated):
                continue
            seen.add(mutated)
            yield Mutant(week.name, part, operator, line, mutated)


def changed_line(before: str, after: str) -> str | None:
    """The first line of ``after`` (formatted as ast.unparse writes it) that ``before`` does not have; None when the
    two are the same program."""
    try:
        old, new = ast.unparse(ast.parse(before)), ast.unparse(ast.parse(after))
    except SyntaxError:
        return None
    if old == new:
        return None
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for tag, old_start, _, new_start, _ in difflib.SequenceMatcher(a=old_lines, b=new_lines).get_opcodes():
        if tag == "replace" and new_lines[new_start].strip() == "pass":
            return f"(dropped) {old_lines[old_start].strip()}"
        if tag in ("replace", "insert"):
            return new_lines[new_start].strip()
        if tag == "delete":
            return f"(deleted) {old_lines[old_start].strip()}"
    return None


def _compiles(source: str) -> bool:
    try:
        compile(source, "<mutant>", "exec")
    except SyntaxError:
        return False
    return True


def _core_mutants(source: str, region: set[int]) -> Iterator[tuple[str, str]]:
    from cosmic_ray.mutating import mutate_code  # noqa: PLC0415 - cosmic-ray is a test extra
    from cosmic_ray.operators.provider import OperatorProvider  # noqa: PLC0415

    provider = OperatorProvider()
    for name in CORE:
        operator = provider[name]()
        for occurrence, line in enumerate(_positions(source, operator)):
            if line in region:
                mutated = mutate_code(source, operator, occurrence)
                if mutated is not None:
                    yield name, mutated


def _positions(source: str, operator) -> list[int]:
    """The line of each place ``operator`` can change, in the order cosmic-ray counts occurrences."""
    import parso  # noqa: PLC0415

    lines: list[int] = []

    def walk(node) -> None:
        lines.extend(start[0] for start, _ in operator.mutation_positions(node))
        for child in getattr(node, "children", []):
            walk(child)

    walk(parso.parse(source))
    return lines


# -- this field's operators: ast transformations, each a list of changes a node allows -------------------------

Change = Callable[[ast.AST], "ast.AST | list[ast.stmt] | None"]
DIM_METHODS = {"sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "softmax", "log_softmax", "cat"}
DIM_METHODS |= {"stack", "unsqueeze", "squeeze", "flatten", "cumsum", "prod", "std", "var", "norm", "flip"}
IN_PLACE = {"add", "sub", "mul", "div", "clamp", "abs", "exp", "neg", "relu", "sigmoid", "tanh", "pow", "sqrt"}
DROPPABLE_METHODS = {"item", "detach", "clone", "float", "double", "cpu", "contiguous", "eval", "train", "values"}
DTYPES = {"float32": "float64", "float64": "float32", "float": "double", "double": "float", "int64": "int32"}
DTYPES |= {"long": "int", "uint8": "int8", "int32": "int64"}
BINARY_IN_PLACE = {ast.Add: "add_", ast.Sub: "sub_", ast.Mult: "mul_", ast.Div: "div_"}


def _expr(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def _dim_swaps(value: ast.expr) -> list[ast.expr]:
    try:
        number = ast.literal_eval(value)
    except ValueError:
        return []
    if not isinstance(number, int) or isinstance(number, bool):
        return []
    return [ast.Constant(other) for other in {0: [1], 1: [0], -1: [0, -2], -2: [-1], 2: [1], 3: [2]}.get(number, [])]


def _field_changes(node: ast.AST, parameters: set[str], numbers: list[int]) -> list[tuple[str, Change]]:
    """The field's changes that apply to ``node``, by operator name."""
    changes: list[tuple[str, Change]] = []
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        changes.append(("DropCall", lambda n: ast.Pass()))
    if isinstance(node, ast.AugAssign):
        changes.append(("DropUpdate", lambda n: ast.Pass()))
    if isinstance(node, ast.With):
        changes.append(("UnwrapWith", lambda n: n.body))
    if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Tuple)):
        targets = {t.id for t in ast.walk(node.targets[0]) if isinstance(t, ast.Name)}
        receivers = {r.id for r in ast.walk(node.value) if isinstance(r, ast.Name)}
        if targets & receivers:  # `x = x.to(device)`: the result thrown away, x as it was
            changes.append(("DiscardResult", lambda n: ast.Expr(n.value)))
    if isinstance(node, ast.Return) and node.value is not None:
        changes.append(("PrintForReturn", lambda n: ast.Expr(ast.Call(ast.Name("print"), [n.value], []))))
        changes.append(("Squeeze", lambda n: ast.Return(_call(n.value, "squeeze"))))
        changes.append(("CastReturn", lambda n: ast.Return(_call(n.value, "double"))))
        value = node.value
        method_of_a_name = isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
        if method_of_a_name and isinstance(value.func.value, ast.Name) and value.func.value.id in parameters:
            receiver = value.func.value.id  # `return t.to(device)` becomes `t.to(device); return t`
            changes.append(("DiscardResult", lambda n, r=receiver: [ast.Expr(n.value), ast.Return(ast.Name(r))]))
    if isinstance(node, ast.Call):
        changes += _call_changes(node, parameters, numbers)
    if isinstance(node, ast.Attribute):
        if node.attr == "T":
            changes.append(("DropTranspose", lambda n: n.value))
        if isinstance(node.value, ast.Name) and node.value.id == "torch" and node.attr in DTYPES:
            changes.append(("CastDtype", lambda n: ast.Attribute(n.value, DTYPES[n.attr])))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        changes.append(("ElementwiseForMatmul", lambda n: ast.BinOp(n.left, ast.Mult(), n.right)))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY_IN_PLACE:
        if isinstance(node.left, ast.Name) and node.left.id in parameters:  # `x - m` becomes `x.sub_(m)`
            changes.append(("InPlace", lambda n: _call(n.left, BINARY_IN_PLACE[type(n.op)], n.right)))
    if _is_shape(node):
        for number in numbers:
            changes.append(("HardCodedShape", lambda n, v=number: ast.Constant(v)))
    return changes


def _call_changes(node: ast.Call, parameters: set[str], numbers: list[int]) -> list[tuple[str, Change]]:
    changes: list[tuple[str, Change]] = []
    method = node.func.attr if isinstance(node.func, ast.Attribute) else None
    for index, keyword in enumerate(node.keywords):
        if keyword.arg is not None:
            changes.append(("DropKeyword", lambda n, i=index: _without_keyword(n, i)))
        if keyword.arg in ("dim", "start_dim"):
            for other in _dim_swaps(keyword.value):
                changes.append(("SwapDims", lambda n, i=index, o=other: _with_keyword(n, i, o)))
        if keyword.arg == "device":
            changes.append(("HardCodedDevice", lambda n, i=index: _with_keyword(n, i, ast.Constant("cpu"))))
    if method in DIM_METHODS and node.args and not isinstance(node.args[0], (ast.List, ast.Tuple)):
        for other in _dim_swaps(node.args[0]):
            changes.append(("SwapDims", lambda n, o=other: _with_arg(n, 0, o)))
    if method in ("cat", "stack") and len(node.args) > 1:
        for other in _dim_swaps(node.args[1]):
            changes.append(("SwapDims", lambda n, o=other: _with_arg(n, 1, o)))
    if method in ("transpose", "permute") and node.args:
        changes.append(("DropTranspose", lambda n: n.func.value))
    if method in DROPPABLE_METHODS and not node.args:
        changes.append(("DropMethod", lambda n: n.func.value))
    if method == "eval":
        changes.append(("TrainForEval", lambda n: _call(n.func.value, "train")))
    if method in DTYPES and not node.args:
        changes.append(("CastDtype", lambda n: _call(n.func.value, DTYPES[n.func.attr])))
    if method == "to" and node.args:
        changes.append(("HardCodedDevice", lambda n: _call(n.func.value, "cuda")))
        changes.append(("HardCodedDevice", lambda n: _call(n.func.value, "to", ast.Constant("cpu"))))
    if method in IN_PLACE and isinstance(node.func.value, ast.Name) and node.func.value.id in parameters:
        in_place = lambda n: ast.Call(ast.Attribute(n.func.value, n.func.attr + "_"), n.args, n.keywords)  # noqa: E731
        changes.append(("InPlace", in_place))
    if method in ("unsqueeze",):
        changes.append(("Squeeze", lambda n: n.func.value))
    if _is_cuda_check(node):
        for constant in (True, False):
            changes.append(("HardCodedDevice", lambda n, c=constant: ast.Constant(c)))
    if method in ("reshape", "view"):
        for index, argument in enumerate(node.args):
            if isinstance(argument, ast.UnaryOp) and isinstance(argument.op, ast.USub):
                for number in numbers:  # `reshape(n, -1)` becomes `reshape(n, 784)`
                    changes.append(("HardCodedShape", lambda n, i=index, v=number: _with_arg(n, i, ast.Constant(v))))
    return changes


def _call(receiver: ast.expr, method: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Attribute(receiver, method), list(args), [])


def _with_arg(node: ast.Call, index: int, value: ast.expr) -> ast.Call:
    args = list(node.args)
    args[index] = value
    return ast.Call(node.func, args, node.keywords)


def _with_keyword(node: ast.Call, index: int, value: ast.expr) -> ast.Call:
    keywords = list(node.keywords)
    keywords[index] = ast.keyword(keywords[index].arg, value)
    return ast.Call(node.func, node.args, keywords)


def _without_keyword(node: ast.Call, index: int) -> ast.Call:
    return ast.Call(node.func, node.args, [k for i, k in enumerate(node.keywords) if i != index])


def _is_shape(node: ast.AST) -> bool:
    """``x.shape[i]``, ``x.size(i)`` or ``len(x)``."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "size":
        return bool(node.args)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


def _is_cuda_check(node: ast.Call) -> bool:
    return ast.unparse(node.func) == "torch.cuda.is_available"


class _Mutate(ast.NodeTransformer):
    """Walks a tree in one fixed order, counting changes; applies the ``target``-th (-1: only counts)."""

    def __init__(self, region: set[int], numbers: list[int], target: int = -1):
        self.region, self.numbers, self.target, self.count = region, numbers, target, 0
        self.operator: str | None = None
        self.parameters: set[str] = set()

    def visit(self, node: ast.AST):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.parameters = {a.arg for a in node.args.args + node.args.kwonlyargs} - {"self"}
        if getattr(node, "lineno", None) in self.region:
            for operator, change in _field_changes(node, self.parameters, self.numbers):
                if self.count == self.target:
                    self.operator = operator
                    self.count += 1
                    return change(copy.deepcopy(node))
                self.count += 1
        return self.generic_visit(node)


def _field_mutants(source: str, region: set[int], numbers: list[int]) -> Iterator[tuple[str, str]]:
    counter = _Mutate(region, numbers)
    counter.visit(ast.parse(source))
    for target in range(counter.count):
        mutate = _Mutate(region, numbers, target)
        tree = ast.fix_missing_locations(mutate.visit(ast.parse(source)))
        yield str(mutate.operator), ast.unparse(tree)


# -- grading them --------------------------------------------------------------------------------------------------


def equivalents(path: Path = EQUIVALENTS) -> dict[tuple[str, str, str, str], str]:
    """(week, part, operator, changed line): the reason that mutant computes what the reference does."""
    if not path.is_file():
        return {}
    return {(e["week"], e["part"], e["operator"], e["line"]): e["reason"] for e in json.loads(path.read_text())}


def grade_mutant(mutant: Mutant, device: str = "cpu") -> tuple[bool, str]:
    """(killed, feedback): the mutant's notebook graded through the sandbox by its part's graders."""
    from autograder.authoring.handed_in import solution_with_files  # noqa: PLC0415
    from autograder.course.weeks import get_week  # noqa: PLC0415
    from autograder.grading.grade import grade_loaded  # noqa: PLC0415 - each pool process imports it

    week = get_week(mutant.week)
    solution = solution_with_files(week)
    notebook = nbformat.read(solution, as_version=4)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == mutant.part:
            cell.source = mutant.source
    label = f"mutant of {mutant.part}"
    report, _ = grade_loaded(notebook, week, solution.parent, label, device, parts={mutant.part})
    if any(test.grader_error for test in report.tests):
        raise RuntimeError(next(test.output for test in report.tests if test.grader_error))
    lost = [test for test in report.tests if test.score < test.max_score]
    return bool(lost), (lost[0].output if lost else "")


def run(week: Week, parts: set[str] | None = None, jobs: int = 1, device: str = "cpu") -> dict[str, PartResult]:
    """Every mutant of the week graded; per part, which were killed, survived, or judged equivalent."""
    known = equivalents()
    results = {part: PartResult(part) for part in answer_cells(week) if parts is None or part in parts}
    todo = []
    for mutant in mutants(week, parts):
        reason = known.get((mutant.week, mutant.part, mutant.operator, mutant.line))
        if reason:
            results[mutant.part].equivalent.append((mutant, reason))
        else:
            todo.append(mutant)
    from autograder.authoring.handed_in import solution_with_files  # noqa: PLC0415

    solution_with_files(week)  # the files it hands in, made once here, not by every pool process at once
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = pool.map(_grade_safely, todo, [device] * len(todo))
        # a bar on stderr while they are graded (minutes a week), only where stderr is a terminal (disable=None)
        shown = tqdm(graded, total=len(todo), desc=f"{week.name} mutants", unit="mutant", leave=False, disable=None)
        for mutant, outcome in zip(todo, shown, strict=True):
            killed, said = outcome
            result = results[mutant.part]
            if said.startswith("internal grader error"):
                result.broken.append((mutant, said))
            else:
                (result.killed if killed else result.survived).append(mutant)
    return results


def _grade_safely(mutant: Mutant, device: str) -> tuple[bool, str]:
    try:
        return grade_mutant(mutant, device)
    except RuntimeError as exc:
        return False, f"internal grader error: {exc}"
