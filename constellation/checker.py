"""Name resolution, dependency order and type checking (language.md §2–§10).

``check`` never stops at the first mistake: it collects every diagnostic. An expression with
an error gets the type ``ERROR``, which is accepted everywhere without further diagnostics,
so one mistake gives one diagnostic (§10.1). Declarations are checked in dependency order,
computed iteratively, so long chains of declarations never recurse.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from constellation import types as ty
from constellation.checked import Binding, Checked, InputInfo, OptionValue, ResolvedCall
from constellation.errors import Diagnostic
from constellation.functions import Function, Functions
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.modules import Registry
from constellation.options import validate as validate_options
from constellation.source import Source, Span
from constellation.stack import recursion_room
from constellation.suggest import did_you_mean
from constellation.syntax import (
    RESERVED_WORDS,
    Assignment,
    Binary,
    BoolLit,
    Branch,
    Call,
    Coalesce,
    Declaration,
    DurationLit,
    Expr,
    Field,
    FloatLit,
    If,
    InputDecl,
    Interpolation,
    IntLit,
    IsPattern,
    Lambda,
    ListLit,
    Match,
    MergeType,
    Name,
    Neg,
    Not,
    OutputDecl,
    Program,
    Project,
    RecordLit,
    RecordPattern,
    RecordType,
    StringLit,
    TypeApp,
    TypeDecl,
    TypeExpr,
    TypeName,
    UnionType,
    UseDecl,
    When,
    Wildcard,
    WithCall,
)
from constellation.types import ERROR, Type

BUILTIN_TYPES: dict[str, Type] = {
    "String": ty.STRING,
    "Int": ty.INT,
    "Float": ty.FLOAT,
    "Boolean": ty.BOOLEAN,
}
GENERIC_TYPES: dict[str, int] = {"List": 1, "Seq": 1, "Candidates": 1, "Map": 2, "Optional": 1}
HIGHER_ORDER = ("map", "filter", "all", "any")
# Recursion over one expression is bounded by the nesting limit (the parser enforces it);
# each level costs a few Python frames, so the checker makes room for them while it runs
# rather than risk a RecursionError on a program that is within the limits.
_FRAMES_PER_LEVEL = 8


def check(
    program: Program,
    source: Source,
    registry: Registry,
    limits: Limits = DEFAULT_LIMITS,
    known_cache_backends: Sequence[str] = ("memory",),
) -> Checked:
    """Check a parsed program against the functions of ``registry`` and the standard library."""
    with recursion_room(limits.max_nesting_depth * _FRAMES_PER_LEVEL + 500):
        return _Checker(program, source, Functions(registry), known_cache_backends).run()


@dataclass(slots=True)
class _Local:
    type: Type
    binding: Binding


Env = dict[str, _Local]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _unwrap_lists(t: Type) -> tuple[int, Type]:
    return ty.list_depth_elem(t)


def _is_constant(e: Expr) -> bool:
    match e:
        case IntLit() | FloatLit() | StringLit() | BoolLit():
            return True
        case Neg(operand=IntLit() | FloatLit()):
            return True
        case ListLit(elements=elements):
            return all(_is_constant(x) for x in elements)
        case RecordLit(fields=fields):
            return all(_is_constant(f.value) for f in fields)
    return False


def constant_value(e: Expr, target: Type) -> object:
    """The Python value of a constant expression, converted to ``target`` (Int → Float, …)."""
    match e:
        case IntLit(value=v):
            return float(v) if _wants_float(target) else v
        case FloatLit(value=v):
            return v
        case Neg(operand=IntLit(value=v)):
            return float(-v) if _wants_float(target) else -v
        case Neg(operand=FloatLit(value=v)):
            return -v
        case StringLit(value=v):
            return v
        case BoolLit(value=v):
            return v
        case ListLit(elements=elements):
            inner = target.inner if isinstance(target, ty.OptionalT) else target
            elem = inner.elem if isinstance(inner, ty.ListT) else ty.ERROR
            return [constant_value(x, elem) for x in elements]
        case RecordLit(fields=fields):
            inner = target.inner if isinstance(target, ty.OptionalT) else target
            if isinstance(inner, ty.RecordT):
                values = {f.name: f.value for f in fields}
                return {
                    name: constant_value(values[name], ft)
                    for name, ft in inner.fields
                    if name in values
                }
            return {f.name: constant_value(f.value, ty.ERROR) for f in fields}
    raise ValueError("not a constant")


def _wants_float(target: Type) -> bool:
    if target == ty.FLOAT:
        return True
    if isinstance(target, ty.OptionalT):
        return _wants_float(target.inner)
    if isinstance(target, ty.UnionT):
        return ty.INT not in target.members and ty.FLOAT in target.members
    return False


class _Checker:
    def __init__(
        self,
        program: Program,
        source: Source,
        functions: Functions,
        known_cache_backends: Sequence[str],
    ) -> None:
        self.program = program
        self.source = source
        self.functions = functions
        self.known_backends = tuple(known_cache_backends)
        self.diagnostics: list[Diagnostic] = []
        self.types: dict[int, Type] = {}
        self.calls: dict[int, ResolvedCall] = {}
        self.options: dict[int, dict[str, OptionValue]] = {}
        self.locals: dict[int, Binding] = {}
        self.match_levels: dict[int, int] = {}
        self.lambda_levels: dict[int, int] = {}
        # Declarations by kind.
        self.aliases: dict[str, TypeDecl] = {}
        self.inputs: dict[str, InputDecl] = {}
        self.assignments: dict[str, Assignment] = {}
        self.outputs: list[OutputDecl] = []
        self.value_spans: dict[str, Span] = {}
        self.shorthands: dict[str, tuple[str, ...]] = {}
        self.imports: list[tuple[str, ...]] = []
        # Results.
        self.alias_types: dict[str, Type] = {}
        self.value_types: dict[str, Type] = {}
        self.in_cycle: set[str] = set()
        self.warned_hiding: set[str] = set()

    # ------------------------------------------------------------------ reporting

    def error(self, code: str, span: Span, message: str, hint: str | None = None) -> Type:
        self.diagnostics.append(Diagnostic.at(code, span, message, hint))
        return ERROR

    def warn(self, code: str, span: Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic.at(code, span, message, hint))

    def mismatch(self, span: Span, what: str, expected: Type | str, got: Type) -> Type:
        return self.error("E010", span, f"{what}: expected {expected}, got {got}")

    # ------------------------------------------------------------------ driver

    def run(self) -> Checked:
        self.collect(self.program.declarations)
        self.check_uses()
        self.resolve_aliases()
        self.check_inputs()
        dependencies = {name: self.references(a.value) for name, a in self.assignments.items()}
        for name in self.inputs:
            dependencies[name] = frozenset()
        order = self.order_values(dependencies)
        for name in order:
            if name in self.assignments:
                self.check_assignment(name)
        needed = self.check_outputs(dependencies, order)
        self.diagnostics.sort(key=lambda d: (d.line, d.column, d.code))
        return Checked(
            program=self.program,
            source=self.source,
            diagnostics=tuple(self.diagnostics),
            inputs=self.input_infos,
            assignments=dict(self.assignments),
            outputs=tuple(o.name for o in self.outputs),
            dependencies=dependencies,
            needed=needed,
            value_types=dict(self.value_types),
            types=self.types,
            calls=self.calls,
            options=self.options,
            locals=self.locals,
            match_levels=self.match_levels,
            lambda_levels=self.lambda_levels,
        )

    # ------------------------------------------------------------------ declarations

    def collect(self, declarations: Sequence[Declaration]) -> None:
        output_spans: dict[str, Span] = {}
        for decl in declarations:
            match decl:
                case TypeDecl(name=name):
                    if name in BUILTIN_TYPES or name in GENERIC_TYPES:
                        self.error(
                            "E030",
                            decl.name_span,
                            f"'{name}' is a built-in type and cannot be redefined",
                            "choose another name for the alias",
                        )
                    elif name in self.aliases:
                        line = self.aliases[name].name_span.line
                        self.error("E030", decl.name_span, f"'{name}' is already defined at line {line}")
                    else:
                        self.aliases[name] = decl
                case InputDecl(name=name) | Assignment(name=name):
                    if name in self.value_spans:
                        line = self.value_spans[name].line
                        self.error("E030", decl.name_span, f"'{name}' is already defined at line {line}")
                        continue
                    self.value_spans[name] = decl.name_span
                    if isinstance(decl, InputDecl):
                        self.inputs[name] = decl
                    else:
                        self.assignments[name] = decl
                case OutputDecl(name=name):
                    if name in output_spans:
                        line = output_spans[name].line
                        self.error(
                            "E030", decl.name_span, f"output '{name}' is already declared at line {line}"
                        )
                        continue
                    output_spans[name] = decl.name_span
                    self.outputs.append(decl)
                case UseDecl():
                    pass

    def check_uses(self) -> None:
        uses = [d for d in self.program.declarations if isinstance(d, UseDecl)]
        shorthand_spans: dict[str, Span] = {}
        for use in uses:
            path = ".".join(use.path)
            if path not in self.functions.namespaces:
                self.error(
                    "E004",
                    use.path_span,
                    f"undefined namespace '{path}'",
                    did_you_mean(path, self.functions.namespaces),
                )
                continue
            short = use.alias if use.alias is not None else use.path[-1]
            span = use.alias_span if use.alias is not None else use.path_span
            if short in self.shorthands and self.shorthands[short] != use.path:
                line = shorthand_spans[short].line
                self.error(
                    "E030",
                    span,
                    f"the shorthand '{short}' is already defined at line {line}",
                    "use 'as' to give one of them another name",
                )
                continue
            self.shorthands[short] = use.path
            shorthand_spans.setdefault(short, span)
            if use.alias is None and use.path not in self.imports:
                self.imports.append(use.path)
        self.check_import_hiding(uses)

    def check_import_hiding(self, uses: Sequence[UseDecl]) -> None:
        for use in uses:
            if use.alias is not None or use.path not in self.imports:
                continue
            ns = ".".join(use.path)
            for name, fn in self.functions.in_namespace(ns).items():
                lib = Functions.library(name)
                if fn.kind == "module" and lib is not None and name not in self.warned_hiding:
                    self.warned_hiding.add(name)
                    self.warn(
                        "W005",
                        use.path_span,
                        f"'{fn.qualified_name}' hides the standard-library function '{name}'",
                        f"call '{lib.qualified_name}' to reach the library function",
                    )

    # ------------------------------------------------------------------ types

    def resolve_aliases(self) -> None:
        deps = {name: self.type_names(decl.type) & self.aliases.keys() for name, decl in self.aliases.items()}
        order, cycles = _dependency_order(list(self.aliases), deps)
        for cycle in cycles:
            first = cycle[0]
            self.error(
                "E031",
                self.aliases[first].name_span,
                "dependency cycle: " + " → ".join([*cycle, first]),
            )
            for name in cycle:
                self.alias_types[name] = ERROR
        for name in order:
            if name not in self.alias_types:
                self.alias_types[name] = self.resolve_type(self.aliases[name].type)

    @staticmethod
    def type_names(t: TypeExpr) -> set[str]:
        found: set[str] = set()
        stack: list[TypeExpr] = [t]
        while stack:
            node = stack.pop()
            match node:
                case TypeName(name=n):
                    found.add(n)
                case TypeApp(name=n, args=args):
                    found.add(n)
                    stack.extend(args)
                case RecordType(fields=fields):
                    stack.extend(f.type for f in fields)
                case UnionType(members=members):
                    stack.extend(members)
                case MergeType(left=left, right=right):
                    stack += [left, right]
        return found

    def type_candidates(self) -> list[str]:
        return [*BUILTIN_TYPES, *GENERIC_TYPES, *self.aliases]

    def resolve_type(self, t: TypeExpr) -> Type:
        match t:
            case TypeName(name=name):
                if name in BUILTIN_TYPES:
                    return BUILTIN_TYPES[name]
                if name in GENERIC_TYPES:
                    n = GENERIC_TYPES[name]
                    params = "T" if n == 1 else "K, V"
                    return self.error(
                        "E015", t.span, f"'{name}' needs type arguments: {name}<{params}>"
                    )
                if name in self.alias_types:
                    return self.alias_types[name]
                if name in self.aliases:  # declared but broken
                    return ERROR
                return self.error(
                    "E003",
                    t.span,
                    f"undefined type '{name}'",
                    did_you_mean(name, self.type_candidates()),
                )
            case TypeApp(name=name, args=args):
                if name not in GENERIC_TYPES:
                    if name in BUILTIN_TYPES or name in self.aliases:
                        return self.error("E015", t.span, f"'{name}' takes no type arguments")
                    return self.error(
                        "E003",
                        t.span,
                        f"undefined type '{name}'",
                        did_you_mean(name, self.type_candidates()),
                    )
                arity = GENERIC_TYPES[name]
                resolved = [self.resolve_type(a) for a in args]
                if len(args) != arity:
                    return self.error(
                        "E015",
                        t.span,
                        f"'{name}' takes {_plural(arity, 'type argument')}, got {len(args)}",
                    )
                if name == "Optional":
                    return ty.optional(resolved[0])
                if name == "Map":
                    key, value = resolved
                    if key not in (ty.STRING, ty.INT, ERROR):
                        return self.error(
                            "E015", args[0].span, f"map keys must be String or Int, got {key}"
                        )
                    return ty.MapT(key, value)
                return ty.ListT(resolved[0])
            case RecordType(fields=fields):
                seen: dict[str, Span] = {}
                out: list[tuple[str, Type]] = []
                for f in fields:
                    ft = self.resolve_type(f.type)
                    if f.name in seen:
                        self.error(
                            "E030", f.span, f"field '{f.name}' is already defined at line {seen[f.name].line}"
                        )
                        continue
                    seen[f.name] = f.span
                    out.append((f.name, ft))
                return ty.RecordT(tuple(out))
            case UnionType(members=members):
                return ty.union(self.resolve_type(m) for m in members)
            case MergeType(left=left, right=right):
                a, b = self.resolve_type(left), self.resolve_type(right)
                if a == ERROR or b == ERROR:
                    return ERROR
                if isinstance(a, ty.RecordT) and isinstance(b, ty.RecordT):
                    return ty.merge(a, b)
                return self.error(
                    "E012", t.span, f"cannot merge {a} and {b}: '+' in types merges record types"
                )

    # ------------------------------------------------------------------ inputs

    def check_inputs(self) -> None:
        self.input_infos: dict[str, InputInfo] = {}
        for name, decl in self.inputs.items():
            t = self.resolve_type(decl.type)
            self.value_types[name] = t
            info = InputInfo(name=name, type=t, decl=decl)
            if decl.default is not None:
                value = self.constant(decl.default, t, f"default of '{name}'")
                if value is not _BAD:
                    info = InputInfo(name=name, type=t, decl=decl, has_default=True, default=value)
                else:
                    # Keep the input defaulted so that no further diagnostic says it is missing.
                    info = InputInfo(name=name, type=t, decl=decl, has_default=True, default=None)
            doc: str | None = None
            examples: list[object] = []
            doc_span: Span | None = None
            for ann in decl.annotations:
                if ann.name == "doc":
                    if doc_span is not None:
                        self.error("E030", ann.name_span, f"'@doc' is already given at line {doc_span.line}")
                        continue
                    doc_span = ann.name_span
                    if ann.argument is None:
                        self.error("E015", ann.span, "'@doc' needs a string, e.g. @doc(\"what it is\")")
                    elif isinstance(ann.argument, StringLit):
                        doc = ann.argument.value
                    elif isinstance(ann.argument, Interpolation):
                        self.error("E015", ann.argument.span, "'@doc' takes a string without interpolation")
                    elif _is_constant(ann.argument):
                        got = self.infer(ann.argument, {}, 0)
                        self.mismatch(ann.argument.span, "argument of '@doc'", ty.STRING, got)
                    else:
                        self.error("E015", ann.argument.span, "'@doc' takes a constant string")
                elif ann.name == "example":
                    if ann.argument is None:
                        self.error("E015", ann.span, "'@example' needs a constant value")
                        continue
                    value = self.constant(ann.argument, t, f"example of '{name}'")
                    if value is not _BAD:
                        examples.append(value)
            self.input_infos[name] = InputInfo(
                name=name,
                type=t,
                decl=decl,
                has_default=info.has_default,
                default=info.default,
                doc=doc,
                examples=tuple(examples),
            )

    def constant(self, e: Expr, target: Type, what: str) -> object:
        if not _is_constant(e):
            self.error(
                "E015",
                e.span,
                f"{what} must be a constant",
                "use a number, string, boolean, or a list or record of them",
            )
            return _BAD
        got = self.infer(e, {}, 0)
        if got == ERROR:
            return _BAD
        if not ty.is_subtype(got, target):
            self.mismatch(e.span, what, target, got)
            return _BAD
        return constant_value(e, target)

    # ------------------------------------------------------------------ values

    def references(self, e: Expr) -> frozenset[str]:
        """The program values an expression references, wherever they are (§2.6)."""
        found: set[str] = set()
        _collect_refs(e, frozenset(), found)
        return frozenset(n for n in found if n in self.value_spans)

    def order_values(self, deps: dict[str, frozenset[str]]) -> list[str]:
        names = [n for n in self.value_spans if n in self.inputs or n in self.assignments]
        names.sort(key=lambda n: (self.value_spans[n].line, self.value_spans[n].column))
        order, cycles = _dependency_order(names, {n: set(deps.get(n, ())) for n in names})
        for cycle in cycles:
            self.error(
                "E031",
                self.value_spans[cycle[0]],
                "dependency cycle: " + " → ".join([*cycle, cycle[0]]),
            )
            for name in cycle:
                self.in_cycle.add(name)
                self.value_types[name] = ERROR
        return order

    def check_assignment(self, name: str) -> None:
        if name in self.in_cycle:
            return
        decl = self.assignments[name]
        self.value_types[name] = self.infer(decl.value, {}, 0)

    def check_outputs(self, deps: dict[str, frozenset[str]], order: list[str]) -> tuple[str, ...]:
        roots: list[str] = []
        for out in self.outputs:
            if out.name in self.value_spans:
                roots.append(out.name)
            else:
                self.undefined_value(out.name, out.name_span, {})
        needed: set[str] = set()
        stack = list(roots)
        while stack:
            n = stack.pop()
            if n in needed:
                continue
            needed.add(n)
            stack.extend(deps.get(n, ()))
        for name, decl in self.assignments.items():
            if name not in needed:
                self.warn(
                    "W001",
                    decl.name_span,
                    f"'{name}' is not used by any output, so it is never evaluated",
                    f"remove it, or add 'out {name}'",
                )
        for name, idecl in self.inputs.items():
            if name not in needed:
                self.warn(
                    "W002",
                    idecl.name_span,
                    f"input '{name}' is not used by any output, so it is never required",
                )
        return tuple(n for n in order if n in needed)

    def undefined_value(self, name: str, span: Span, env: Env) -> Type:
        candidates = [*self.value_spans, *env]
        hint = did_you_mean(name, candidates)
        if "-" in name:
            parts = name.split("-")
            if all(p.isdigit() or p in self.value_spans or p in env for p in parts):
                hint = f"write '{' - '.join(parts)}' to subtract"
        return self.error("E001", span, f"undefined variable '{name}'", hint)

    # ------------------------------------------------------------------ expressions

    def infer(self, e: Expr, env: Env, level: int) -> Type:
        t = self._infer(e, env, level)
        self.types[id(e)] = t
        return t

    def _infer(self, e: Expr, env: Env, level: int) -> Type:
        match e:
            case Name(name=name):
                local = env.get(name)
                if local is not None:
                    self.locals[id(e)] = local.binding
                    return local.type
                if name in self.value_types:
                    return self.value_types[name]
                if name in self.value_spans:  # an input or assignment not typed (cycle)
                    return ERROR
                return self.undefined_value(name, e.span, env)
            case IntLit():
                return ty.INT
            case FloatLit():
                return ty.FLOAT
            case StringLit():
                return ty.STRING
            case BoolLit():
                return ty.BOOLEAN
            case DurationLit():
                return ty.DURATION
            case Interpolation(parts=parts):
                for part in parts:
                    if not isinstance(part, str):
                        self.infer(part, env, level)
                return ty.STRING
            case ListLit(elements=elements):
                return self.infer_list(elements, env, level)
            case RecordLit(fields=fields):
                seen: dict[str, Span] = {}
                out: list[tuple[str, Type]] = []
                for f in fields:
                    ft = self.infer(f.value, env, level)
                    if f.name in seen:
                        self.error(
                            "E030", f.span, f"field '{f.name}' is already defined at line {seen[f.name].line}"
                        )
                        continue
                    seen[f.name] = f.span
                    out.append((f.name, ft))
                return ty.RecordT(tuple(out))
            case Field():
                return self.infer_field(e, env, level)
            case Project():
                return self.infer_project(e, env, level)
            case Call():
                t = self.infer_call(e, env, level)
                resolved = self.calls.get(id(e))
                if resolved is not None and self.default_option(resolved, "on_error") == "wrap":
                    return _wrapped(t)
                return t
            case WithCall():
                return self.infer_with(e, env, level)
            case Binary(op="and" | "or"):
                for operand in (e.left, e.right):
                    t = self.infer(operand, env, level)
                    if not ty.is_subtype(t, ty.BOOLEAN):
                        self.mismatch(operand.span, f"operand of '{e.op}'", ty.BOOLEAN, t)
                return ty.BOOLEAN
            case Binary(op="==" | "!=" | "<" | "<=" | ">" | ">="):
                return self.infer_compare(e, env, level)
            case Binary():
                return self.infer_arith(e, env, level)
            case Neg(operand=operand):
                t = self.infer(operand, env, level)
                if t == ERROR or ty.is_numeric(t):
                    return t
                if t == ty.NOTHING:
                    return ty.INT
                return self.error("E014", e.span, f"cannot apply unary '-' to {t}", self.arith_hint(t))
            case Not(operand=operand):
                t = self.infer(operand, env, level)
                if not ty.is_subtype(t, ty.BOOLEAN):
                    self.mismatch(operand.span, "operand of 'not'", ty.BOOLEAN, t)
                return ty.BOOLEAN
            case If(cond=cond, then=then, otherwise=otherwise):
                self.expect_boolean(cond, env, level, "condition of if")
                a = self.infer(then, env, level)
                b = self.infer(otherwise, env, level)
                result = ty.lub(a, b)
                if result is None:
                    return self.mismatch(otherwise.span, "else branch of if", a, b)
                return result
            case Branch(arms=arms, otherwise=otherwise):
                result_t: Type = ty.NOTHING
                for arm in arms:
                    self.expect_boolean(arm.cond, env, level, "condition of branch")
                    result_t = self.join(result_t, arm.value, env, level, "branch arm")
                return self.join(result_t, otherwise, env, level, "otherwise arm of branch")
            case When(value=value, cond=cond):
                self.expect_boolean(cond, env, level, "condition of when")
                return ty.optional(self.infer(value, env, level))
            case Coalesce(left=left, right=right):
                return self.infer_coalesce(left, right, env, level)
            case Match():
                return self.infer_match(e, env, level)

    def join(self, so_far: Type, e: Expr, env: Env, level: int, what: str) -> Type:
        t = self.infer(e, env, level)
        result = ty.lub(so_far, t)
        if result is None:
            self.mismatch(e.span, what, so_far, t)
            return so_far
        return result

    def expect_boolean(self, e: Expr, env: Env, level: int, what: str) -> None:
        t = self.infer(e, env, level)
        if not ty.is_subtype(t, ty.BOOLEAN):
            self.mismatch(e.span, what, ty.BOOLEAN, t)

    def infer_list(self, elements: Sequence[Expr], env: Env, level: int) -> Type:
        elem: Type = ty.NOTHING
        for x in elements:
            elem = self.join(elem, x, env, level, "list element")
        return ty.ListT(elem)

    # -- fields and projections

    def infer_field(self, e: Field, env: Env, level: int) -> Type:
        target = self.infer(e.target, env, level)
        if target == ERROR:
            return ERROR
        depth, inner = _unwrap_lists(target)
        if isinstance(inner, ty.OptionalT):
            return self.error(
                "E015",
                e.name_span,
                f"cannot access field '{e.name}' of an Optional value ({target})",
                "unwrap it with ?? first",
            )
        if isinstance(inner, ty.RecordT):
            ft = inner.get(e.name)
            if ft is None:
                hint = did_you_mean(e.name, inner.names) or (
                    f"available fields: {', '.join(inner.names)}" if inner.names else None
                )
                return self.error("E007", e.name_span, f"no field '{e.name}' in {inner}", hint)
            return ty.wrap_lists(ft, depth)
        if isinstance(inner, ty.UnionT) and all(isinstance(m, ty.RecordT) for m in inner.members):
            field_types: list[Type] = []
            for m in inner.members:
                assert isinstance(m, ty.RecordT)
                ft = m.get(e.name)
                if ft is None:
                    return self.error(
                        "E007",
                        e.name_span,
                        f"no field '{e.name}' in {m}, a variant of {inner}",
                        "use match to handle each variant",
                    )
                field_types.append(ft)
            result: Type = field_types[0]
            for ft in field_types[1:]:
                result = ty.lub(result, ft) or ty.union((result, ft))
            return ty.wrap_lists(result, depth)
        return self.error("E007", e.name_span, f"no field '{e.name}' in {inner}")

    def infer_project(self, e: Project, env: Env, level: int) -> Type:
        target = self.infer(e.target, env, level)
        if target == ERROR:
            return ERROR
        depth, inner = _unwrap_lists(target)
        if isinstance(inner, ty.OptionalT):
            return self.error(
                "E015",
                e.fields[0].span,
                f"cannot project fields of an Optional value ({target})",
                "unwrap it with ?? first",
            )
        if not isinstance(inner, ty.RecordT):
            return self.error("E006", e.fields[0].span, f"cannot project fields of {inner}: it is not a record")
        out: list[tuple[str, Type]] = []
        ok = True
        for f in e.fields:
            ft = inner.get(f.name)
            if ft is None:
                self.error(
                    "E006", f.span, f"no field '{f.name}' in {inner}", did_you_mean(f.name, inner.names)
                )
                ok = False
            elif any(name == f.name for name, _ in out):
                self.error("E006", f.span, f"field '{f.name}' is projected twice")
                ok = False
            else:
                out.append((f.name, ft))
        return ty.wrap_lists(ty.RecordT(tuple(out)), depth) if ok else ERROR

    # -- operators

    @staticmethod
    def arith_hint(t: Type) -> str | None:
        if isinstance(t, ty.OptionalT):
            return "unwrap the Optional with ?? first, e.g. 'x ?? 0'"
        return None

    def infer_arith(self, e: Binary, env: Env, level: int) -> Type:
        a = self.infer(e.left, env, level)
        b = self.infer(e.right, env, level)
        if a == ERROR or b == ERROR:
            return ERROR
        if e.op == "+":
            merged = self.merge_types(e, a, b)
            if merged is not None:
                return merged
        if a == ty.NOTHING and b == ty.NOTHING:
            return ty.INT
        a = b if a == ty.NOTHING else a
        b = a if b == ty.NOTHING else b
        if ty.is_numeric(a) and ty.is_numeric(b):
            return ty.INT if a == b == ty.INT else ty.FLOAT
        hint = self.arith_hint(a) or self.arith_hint(b)
        if hint is None and e.op == "+" and a == b == ty.STRING:
            hint = 'use interpolation "${a}${b}" or concat(a, b)'
        if hint is None and e.op == "+" and isinstance(a, ty.ListT) and isinstance(b, ty.ListT):
            hint = "use list-concat(a, b)"
        return self.error("E014", e.span, f"cannot apply '{e.op}' to {a} and {b}", hint)

    def merge_types(self, e: Binary, a: Type, b: Type) -> Type | None:
        """The type of ``a + b`` when it is a record merge; None when it is arithmetic."""
        da, ea = _unwrap_lists(a)
        db, eb = _unwrap_lists(b)
        rec_a = isinstance(ea, ty.RecordT) and da <= 1
        rec_b = isinstance(eb, ty.RecordT) and db <= 1
        if not (isinstance(ea, ty.RecordT) or isinstance(eb, ty.RecordT)):
            return None
        if rec_a and rec_b:
            assert isinstance(ea, ty.RecordT)
            assert isinstance(eb, ty.RecordT)
            merged = ty.merge(ea, eb)
            return ty.ListT(merged) if (da or db) else merged
        return self.error(
            "E012", e.span, f"cannot merge {a} and {b}: '+' merges records and lists of records"
        )

    def infer_compare(self, e: Binary, env: Env, level: int) -> Type:
        a = self.infer(e.left, env, level)
        b = self.infer(e.right, env, level)
        if a == ERROR or b == ERROR:
            return ty.BOOLEAN
        if e.op in ("==", "!="):
            if not (ty.is_subtype(a, b) or ty.is_subtype(b, a)):
                self.error("E013", e.span, f"cannot compare {a} {e.op} {b}: the types are unrelated")
        elif not self.ordered_pair(a, b):
            self.error(
                "E013", e.span, f"cannot compare {a} {e.op} {b}: ordering needs numbers or strings"
            )
        return ty.BOOLEAN

    @staticmethod
    def ordered_pair(a: Type, b: Type) -> bool:
        a = b if a == ty.NOTHING else a
        b = a if b == ty.NOTHING else b
        return (ty.is_numeric(a) and ty.is_numeric(b)) or a == b == ty.STRING

    def infer_coalesce(self, left: Expr, right: Expr, env: Env, level: int) -> Type:
        a = self.infer(left, env, level)
        b = self.infer(right, env, level)
        if a == ERROR:
            return ERROR
        if not isinstance(a, ty.OptionalT):
            return self.error(
                "E015", left.span, f"left side of ?? must be Optional, got {a}", "remove the '??'"
            )
        if b == ERROR:
            return ERROR
        if isinstance(b, ty.OptionalT):
            inner = ty.lub(a.inner, b.inner)
            if inner is None:
                return self.mismatch(right.span, "right side of ??", a.inner, b)
            return ty.optional(inner)
        result = ty.lub(a.inner, b)
        if result is None:
            return self.mismatch(right.span, "right side of ??", a.inner, b)
        return result

    # -- match

    def infer_match(self, e: Match, env: Env, level: int) -> Type:
        subject = self.infer(e.subject, env, level)
        my_level = level + 1
        self.match_levels[id(e)] = my_level
        if isinstance(subject, ty.OptionalT):
            self.error(
                "E015",
                e.span,
                f"cannot match on an Optional value ({subject})",
                "unwrap it first with ?? or when",
            )
            subject = ERROR
        variants: tuple[Type, ...] = subject.members if isinstance(subject, ty.UnionT) else (subject,)
        covered: set[int] = set()
        result: Type = ty.NOTHING
        subject_name = e.subject.name if isinstance(e.subject, Name) else None
        for case in e.cases:
            case_env = dict(env)
            pattern = case.pattern
            hits: list[int] = []
            if subject == ERROR:
                hits = []
            elif isinstance(pattern, Wildcard):
                hits = list(range(len(variants)))
            elif isinstance(pattern, RecordPattern):
                hits = self.record_pattern(pattern, variants, case_env, my_level)
            elif isinstance(pattern, IsPattern):
                pt = self.resolve_type(pattern.type)
                if pt == ERROR:
                    subject_hits: list[int] | None = None
                else:
                    subject_hits = [i for i, v in enumerate(variants) if ty.is_subtype(v, pt)]
                    if not subject_hits:
                        self.error(
                            "E015", pattern.span, f"this pattern never matches: no variant of {subject} is a {pt}"
                        )
                hits = subject_hits or []
            if subject != ERROR and hits and all(i in covered for i in hits):
                self.warn("W003", pattern.span, "unreachable case: every value it matches is matched above")
            if (
                subject_name is not None
                and hits
                and not isinstance(pattern, Wildcard)
                and subject_name not in {f.name for f in getattr(pattern, "fields", ())}
            ):
                narrowed = ty.union(variants[i] for i in hits)
                outer = env.get(subject_name)
                binding = outer.binding if outer is not None else None
                if binding is not None:
                    case_env[subject_name] = _Local(narrowed, binding)
                else:
                    case_env[subject_name] = _Local(narrowed, Binding(my_level))
            covered.update(hits)
            result = self.join(result, case.body, case_env, my_level, "match case")
        missing = [variants[i] for i in range(len(variants)) if i not in covered]
        if subject != ERROR and missing:
            listed = ", ".join(str(v) for v in missing)
            self.error(
                "E015",
                e.span,
                f"match is not exhaustive: {listed} not covered",
                "add a case for each missing variant, or '_ -> …'",
            )
        return result

    def record_pattern(
        self, pattern: RecordPattern, variants: Sequence[Type], case_env: Env, level: int
    ) -> list[int]:
        names: list[str] = []
        for f in pattern.fields:
            if f.name in names:
                self.error("E030", f.span, f"field '{f.name}' appears twice in this pattern")
            else:
                names.append(f.name)
        hits = [
            i
            for i, v in enumerate(variants)
            if isinstance(v, ty.RecordT) and all(v.get(n) is not None for n in names)
        ]
        if not hits:
            listed = ", ".join(names)
            self.error(
                "E015", pattern.span, f"this pattern never matches: no variant has the fields {listed}"
            )
            return hits
        for f in pattern.fields:
            if f.name in RESERVED_WORDS:
                continue
            ft: Type | None = None
            for i in hits:
                v = variants[i]
                assert isinstance(v, ty.RecordT)
                vt = v.get(f.name) or ERROR
                ft = vt if ft is None else (ty.lub(ft, vt) or ty.union((ft, vt)))
            case_env[f.name] = _Local(ft or ERROR, Binding(level, f.name))
        return hits

    # -- calls

    def resolve_callee(self, call: Call, env: Env) -> Function | None:
        path = call.callee
        span = call.callee_span
        if len(path) == 1:
            return self.resolve_bare(path[0], span, env)
        head, name = path[:-1], path[-1]
        if head[0] in self.shorthands:
            head = self.shorthands[head[0]] + head[1:]
        ns = ".".join(head)
        if ns not in self.functions.namespaces:
            if path[0] in self.value_spans or path[0] in env:
                self.error(
                    "E004",
                    span,
                    f"undefined namespace '{ns}'",
                    f"'{path[0]}' is a value; values cannot be called",
                )
            else:
                self.error(
                    "E004", span, f"undefined namespace '{ns}'", did_you_mean(ns, self.functions.namespaces)
                )
            return None
        available = self.functions.in_namespace(ns)
        fn = available.get(name)
        if fn is None:
            self.error(
                "E002",
                span,
                f"undefined function '{ns}.{name}'",
                did_you_mean(name, available),
            )
        return fn

    def resolve_bare(self, name: str, span: Span, env: Env) -> Function | None:
        fn = self.functions.globals.get(name)
        if fn is not None:
            lib = Functions.library(name)
            if lib is not None and name not in self.warned_hiding:
                self.warned_hiding.add(name)
                self.warn(
                    "W005",
                    span,
                    f"the module '{name}' hides the standard-library function '{name}'",
                    f"call '{lib.qualified_name}' to reach the library function",
                )
            return fn
        imported: dict[str, Function] = {}
        for path in self.imports:
            found = self.functions.in_namespace(".".join(path)).get(name)
            if found is not None:
                imported.setdefault(found.qualified_name, found)
        if len(imported) > 1:
            names = sorted(imported)
            listed = ", ".join(f"'{n.rsplit('.', 1)[0]}'" for n in names[:-1])
            self.error(
                "E005",
                span,
                f"'{name}' is defined in {listed} and '{names[-1].rsplit('.', 1)[0]}'",
                "call it by its qualified name",
            )
            return None
        if imported:
            return next(iter(imported.values()))
        lib = Functions.library(name)
        if lib is not None:
            return lib
        candidates: set[str] = set(self.functions.globals) | set(Functions.library_names())
        for path in self.imports:
            candidates.update(self.functions.in_namespace(".".join(path)))
        hint = did_you_mean(name, candidates)
        if hint is None and (name in self.value_spans or name in env):
            hint = f"'{name}' is a value; only functions can be called"
        self.error("E002", span, f"undefined function '{name}'", hint)
        return None

    def infer_call(self, call: Call, env: Env, level: int) -> Type:
        fn = self.resolve_callee(call, env)
        if fn is not None and fn.rule == "higher-order":
            return self.infer_higher_order(call, fn, env, level)
        arg_types: list[Type] = []
        for arg in call.args:
            if isinstance(arg, Lambda):
                self.error(
                    "E015", arg.span, "a lambda can only be passed to map, filter, all or any"
                )
                arg_types.append(ERROR)
            else:
                arg_types.append(self.infer(arg, env, level))
        if fn is None:
            return ERROR
        label = call.callee[-1] if fn.kind == "library" else fn.name
        if len(call.args) != len(fn.param_types):
            self.error(
                "E015",
                call.callee_span,
                f"{label} takes {_plural(len(fn.param_types), 'argument')}, got {len(call.args)}",
            )
            return fn.result if not _has_vars(fn.result) else ERROR
        params, result = self.instantiate(call, fn, arg_types, label)
        self.calls[id(call)] = ResolvedCall(fn.qualified_name, fn.kind, fn.version, params, result)
        return result

    def instantiate(
        self, call: Call, fn: Function, arg_types: list[Type], label: str
    ) -> tuple[tuple[Type, ...], Type]:
        """Bind the signature's type variables at this call and check every argument."""
        if fn.rule == "equality" or fn.rule == "ordering":
            a, b = arg_types
            if ERROR not in (a, b):
                if fn.rule == "equality" and not (ty.is_subtype(a, b) or ty.is_subtype(b, a)):
                    self.error("E013", call.span, f"cannot compare {a} and {b} with {label}: the types are unrelated")
                elif fn.rule == "ordering" and not self.ordered_pair(a, b):
                    self.error("E013", call.span, f"cannot compare {a} and {b} with {label}: ordering needs numbers or strings")
            common = ty.lub(a, b) or ERROR
            return (common, common), ty.BOOLEAN
        bindings: dict[str, Type] = {}
        for i, (pt, at) in enumerate(zip(fn.param_types, arg_types, strict=True)):
            if at == ERROR:
                continue
            if not _bind(pt, at, bindings):
                self.arg_mismatch(call, fn, i, label, pt, at, bindings)
        for var in _type_vars((*fn.param_types, fn.result)):
            bound = bindings.get(var.name)
            if var.kind == "numeric" and (bound is None or bound == ty.NOTHING):
                bindings[var.name] = ty.INT
            elif bound is None:
                bindings[var.name] = ty.NOTHING
        params = tuple(_substitute(pt, bindings) for pt in fn.param_types)
        result = _substitute(fn.result, bindings)
        if fn.rule == "concat":
            a, b = (_unwrap_lists(t)[1] if isinstance(t, ty.ListT) else ERROR for t in params)
            elem = ty.lub(a, b)
            if elem is None:
                self.mismatch(call.args[1].span, f"argument 2 of {label}", ty.ListT(a), ty.ListT(b))
                elem = ERROR
            result = ty.ListT(elem)
            params = (result, result)
        return params, result

    def arg_mismatch(
        self,
        call: Call,
        fn: Function,
        i: int,
        label: str,
        pt: Type,
        at: Type,
        bindings: dict[str, Type],
    ) -> None:
        expected = _describe_param(pt, bindings)
        arg = call.args[i]
        self.mismatch(
            arg.span, f"argument {i + 1} ('{fn.param_names[i]}') of {label}", expected, at
        )

    def infer_higher_order(self, call: Call, fn: Function, env: Env, level: int) -> Type:
        label = call.callee[-1]
        if len(call.args) != 2:
            for arg in call.args:
                if not isinstance(arg, Lambda):
                    self.infer(arg, env, level)
            self.error("E015", call.callee_span, f"{label} takes 2 arguments, got {len(call.args)}")
            return ERROR
        xs, f = call.args
        if isinstance(xs, Lambda):
            self.error("E015", xs.span, f"argument 1 of {label} must be a list, not a lambda")
            return ERROR
        list_t = self.infer(xs, env, level)
        elem: Type
        if list_t == ERROR:
            elem = ERROR
        elif isinstance(list_t, ty.ListT):
            elem = list_t.elem
        else:
            self.mismatch(xs.span, f"argument 1 ('{fn.param_names[0]}') of {label}", "a List", list_t)
            elem = ERROR
        if not isinstance(f, Lambda):
            self.infer(f, env, level)
            self.error(
                "E015", f.span, f"argument 2 of {label} must be a lambda, e.g. (x) => …"
            )
            return ERROR
        my_level = level + 1
        self.lambda_levels[id(f)] = my_level
        param_t = elem
        if f.annotation is not None:
            declared = self.resolve_type(f.annotation)
            if declared != ERROR and elem != ERROR and not ty.is_subtype(elem, declared):
                self.error(
                    "E010",
                    f.annotation.span,
                    f"parameter '{f.param}' of the lambda: the list's elements are {elem}, not {declared}",
                )
            param_t = declared
        body_env = dict(env)
        body_env[f.param] = _Local(param_t, Binding(my_level))
        body = self.infer(f.body, body_env, my_level)
        self.types[id(f)] = ty.FuncT(param_t, body)
        result: Type
        if label == "map":
            result = ty.ListT(body)
        else:
            if not ty.is_subtype(body, ty.BOOLEAN):
                self.mismatch(f.body.span, f"body of the lambda passed to {label}", ty.BOOLEAN, body)
            result = ty.ListT(elem if elem != ERROR else param_t) if label == "filter" else ty.BOOLEAN
        self.calls[id(call)] = ResolvedCall(
            fn.qualified_name,
            "library",
            fn.version,
            (list_t if list_t != ERROR else ty.ListT(elem), ty.FuncT(param_t, body)),
            result,
            higher_order=True,
        )
        return result

    def default_option(self, resolved: ResolvedCall, name: str) -> object:
        """A module's registration default for an option (None for library functions)."""
        if resolved.kind != "module":
            return None
        fn = self.functions.modules.get(resolved.qualified_name)
        return None if fn is None else fn.defaults.get(name)

    def infer_with(self, e: WithCall, env: Env, level: int) -> Type:
        call_t = self.infer_call(e.call, env, level)
        self.types[id(e.call)] = call_t
        resolved = self.calls.get(id(e.call))
        if resolved is not None and resolved.higher_order:
            first = e.options[0]
            self.error(
                "E016", first.name_span, f"options are not allowed on {e.call.callee[-1]}"
            )
            return call_t
        fn = None if resolved is None else self.functions.modules.get(resolved.qualified_name)
        defaults = fn.defaults if fn is not None else {}
        values, fallback = validate_options(
            e.options, self.diagnostics.append, self.known_backends, defaults
        )
        normalized: dict[str, OptionValue] = dict(values)
        if fallback is not None and fallback.value is not None:
            ft = self.infer(fallback.value, env, level)
            if call_t != ERROR and ft != ERROR and not ty.is_subtype(ft, call_t):
                label = e.call.callee[-1]
                self.error(
                    "E017",
                    fallback.value.span,
                    f"fallback of type {ft} does not match {call_t}, the result type of {label}",
                )
            normalized["fallback"] = fallback.value
        self.options[id(e)] = dict(sorted(normalized.items()))
        on_error = values.get("on_error", defaults.get("on_error"))
        if on_error == "wrap" and call_t != ERROR:
            return _wrapped(call_t)
        return call_t


# ---------------------------------------------------------------------- helpers



class _Bad:
    pass


_BAD = _Bad()


def _wrapped(t: Type) -> Type:
    """The type of a call with ``on_error: wrap`` (§8.3, step 6)."""
    if t == ERROR:
        return ERROR
    return ty.record(
        [("ok", ty.BOOLEAN), ("value", ty.optional(t)), ("error", ty.optional(ty.STRING))]
    )


def _has_vars(t: Type) -> bool:
    return bool(_type_vars((t,)))


def _type_vars(ts: Sequence[Type]) -> list[ty.TypeVar]:
    found: list[ty.TypeVar] = []
    stack = list(ts)
    while stack:
        t = stack.pop()
        match t:
            case ty.TypeVar():
                if t not in found:
                    found.append(t)
            case ty.ListT():
                stack.append(t.elem)
            case ty.MapT():
                stack += [t.key, t.value]
            case ty.OptionalT():
                stack.append(t.inner)
            case ty.RecordT():
                stack.extend(ft for _, ft in t.fields)
            case ty.UnionT():
                stack.extend(t.members)
            case ty.FuncT():
                stack += [t.param, t.result]
    return found


def _bind(pattern: Type, actual: Type, bindings: dict[str, Type]) -> bool:
    """Match ``actual`` against a parameter type with variables, widening bindings by lub.

    A variable matched against ERROR is bound to ERROR, so the call's result is ERROR too and
    the mistake inside the argument causes no second diagnostic downstream.
    """
    match pattern:
        case ty.TypeVar(name=name) if actual == ERROR:
            bindings[name] = ERROR
            return True
    if actual == ERROR:
        return True
    match pattern:
        case ty.TypeVar(name=name):
            if actual != ty.NOTHING and (
                (pattern.kind == "numeric" and not ty.is_numeric(actual))
                or (pattern.kind == "ordered" and not ty.is_ordered(actual))
            ):
                return False
            previous = bindings.get(name)
            if previous is None:
                bindings[name] = actual
                return True
            joined = ty.lub(previous, actual)
            if joined is None:
                return False
            bindings[name] = joined
            return True
        case ty.ListT(elem=elem):
            if actual == ty.NOTHING:
                return True
            return isinstance(actual, ty.ListT) and _bind(elem, actual.elem, bindings)
        case ty.MapT(key=key, value=value):
            return (
                isinstance(actual, ty.MapT)
                and _bind(key, actual.key, bindings)
                and _bind(value, actual.value, bindings)
            )
        case ty.OptionalT(inner=inner):
            inner_actual = actual.inner if isinstance(actual, ty.OptionalT) else actual
            return _bind(inner, inner_actual, bindings)
    if _has_vars(pattern):
        return False
    return ty.is_subtype(actual, pattern)


def _substitute(t: Type, bindings: dict[str, Type]) -> Type:
    match t:
        case ty.TypeVar(name=name):
            return bindings.get(name, ty.NOTHING)
        case ty.ListT():
            return ty.ListT(_substitute(t.elem, bindings))
        case ty.MapT():
            return ty.MapT(_substitute(t.key, bindings), _substitute(t.value, bindings))
        case ty.OptionalT():
            return ty.optional(_substitute(t.inner, bindings))
        case ty.RecordT():
            return ty.RecordT(tuple((n, _substitute(ft, bindings)) for n, ft in t.fields))
        case ty.UnionT():
            return ty.union(_substitute(m, bindings) for m in t.members)
    return t


def _describe_param(t: Type, bindings: dict[str, Type]) -> str:
    match t:
        case ty.TypeVar(kind="numeric"):
            return "Int or Float"
        case ty.TypeVar(kind="ordered"):
            return "Int, Float or String"
        case ty.TypeVar():
            bound = bindings.get(t.name)
            return str(bound) if bound is not None else "a value"
        case ty.ListT() if _has_vars(t):
            return f"List<{_describe_param(t.elem, bindings)}>"
        case ty.MapT() if _has_vars(t):
            return f"Map<{_describe_param(t.key, bindings)}, {_describe_param(t.value, bindings)}>"
        case ty.OptionalT() if _has_vars(t):
            return f"Optional<{_describe_param(t.inner, bindings)}>"
    return str(_substitute(t, bindings))


def _collect_refs(e: Expr, bound: frozenset[str], found: set[str]) -> None:
    """Value names referenced by ``e`` that are not shadowed by locals in ``bound``."""
    match e:
        case Name(name=name):
            if name not in bound:
                found.add(name)
        case IntLit() | FloatLit() | StringLit() | BoolLit() | DurationLit():
            pass
        case Interpolation(parts=parts):
            for p in parts:
                if not isinstance(p, str):
                    _collect_refs(p, bound, found)
        case ListLit(elements=elements):
            for x in elements:
                _collect_refs(x, bound, found)
        case RecordLit(fields=fields):
            for f in fields:
                _collect_refs(f.value, bound, found)
        case Field(target=target) | Project(target=target):
            _collect_refs(target, bound, found)
        case Call(args=args):
            for a in args:
                if isinstance(a, Lambda):
                    _collect_refs(a.body, bound | {a.param}, found)
                else:
                    _collect_refs(a, bound, found)
        case WithCall(call=call, options=options):
            _collect_refs(call, bound, found)
            for o in options:
                if o.value is not None and o.name == "fallback":
                    _collect_refs(o.value, bound, found)
        case Binary(left=left, right=right) | Coalesce(left=left, right=right):
            _collect_refs(left, bound, found)
            _collect_refs(right, bound, found)
        case Neg(operand=x) | Not(operand=x):
            _collect_refs(x, bound, found)
        case If(cond=c, then=a, otherwise=b):
            for x in (c, a, b):
                _collect_refs(x, bound, found)
        case Branch(arms=arms, otherwise=otherwise):
            for arm in arms:
                _collect_refs(arm.cond, bound, found)
                _collect_refs(arm.value, bound, found)
            _collect_refs(otherwise, bound, found)
        case When(value=value, cond=cond):
            _collect_refs(value, bound, found)
            _collect_refs(cond, bound, found)
        case Match(subject=subject, cases=cases):
            _collect_refs(subject, bound, found)
            for case in cases:
                inner = bound
                if isinstance(case.pattern, RecordPattern):
                    inner = bound | {f.name for f in case.pattern.fields}
                _collect_refs(case.body, inner, found)


def _dependency_order(
    names: Sequence[str], deps: dict[str, set[str]] | dict[str, frozenset[str]]
) -> tuple[list[str], list[list[str]]]:
    """Dependencies-first order of ``names`` and the cycles among them (iterative Tarjan).

    Each cycle is listed starting at its member that comes first in ``names`` and following
    dependency edges back to it.
    """
    position = {n: i for i, n in enumerate(names)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    order: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    for root in names:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(deps.get(root, ()), key=lambda d: position.get(d, 0)))))
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in position:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(deps.get(child, ()), key=lambda d: position.get(d, 0))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                order.extend(component)
                if len(component) > 1 or node in deps.get(node, ()):
                    sccs.append(component)
    cycles = [_cycle_path(sorted(c, key=position.__getitem__), deps) for c in sccs]
    cycles.sort(key=lambda c: position[c[0]])
    return order, cycles


def _cycle_path(component: list[str], deps: dict[str, set[str]] | dict[str, frozenset[str]]) -> list[str]:
    """A simple cycle through the first member of a strongly connected component (BFS)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(deps.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path))
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return [start]
