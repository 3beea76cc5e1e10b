"""Checked syntax → IR: the only module that knows both the AST and the compiled pipeline.

:func:`compile_checked` lowers every needed assignment to a node of the DAG (see ``ir.py``
for the IR and its node-id scheme). It resolves what the checker decided into explicit
operations: calls by qualified name with their instantiated signatures and effective options
(module decorator defaults overridden option by option by the ``with`` clause), arithmetic by
static type, conversions (:class:`~constellation.ir.Convert`) wherever a value flows into a
position of a type whose values look different (Int → Float, record narrowing), and binder
levels for lambda parameters and match subjects.

Recursion follows the expression tree only (its depth is bounded by the parser's nesting
limit); declarations are compiled one after the other, never recursively, so a chain of
50 000 declarations costs nothing on the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from constellation import types as ty
from constellation.checked import Binding, Checked, OptionValue, ResolvedCall
from constellation.ir import (
    ROOM_FRAMES,
    And,
    AnyPattern,
    Arith,
    ArithOp,
    BranchExpr,
    CallExpr,
    CoalesceExpr,
    Compare,
    Const,
    Convert,
    Expr,
    FieldsPattern,
    GetField,
    HigherKind,
    HigherOrder,
    IfExpr,
    InputSpec,
    Interpolate,
    IsPattern,
    Local,
    MakeList,
    MakeRecord,
    MatchCase,
    MatchExpr,
    Merge,
    MergeShape,
    Neg,
    Node,
    Not,
    Options,
    Or,
    Pattern,
    Pipeline,
    ProjectFields,
    Ref,
    UnusedAssignment,
    WhenExpr,
)
from constellation.modules import Registry
from constellation.stack import recursion_room
from constellation.syntax import (
    Assignment,
    Binary,
    BoolLit,
    Branch,
    Call,
    Coalesce,
    DurationLit,
    Field,
    FloatLit,
    If,
    Interpolation,
    IntLit,
    Lambda,
    ListLit,
    Match,
    MergeType,
    Name,
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
    When,
    Wildcard,
    WithCall,
)
from constellation.syntax import Expr as AstExpr
from constellation.syntax import IsPattern as AstIsPattern
from constellation.syntax import Neg as AstNeg
from constellation.syntax import Not as AstNot
from constellation.types import Type
from constellation.values import converter, needs_conversion

_MERGE_SHAPES: Final[dict[tuple[bool, bool], MergeShape]] = {
    (False, False): "record",
    (True, False): "list-record",
    (False, True): "record-list",
    (True, True): "list-list",
}
_PRIMS: Final[dict[str, Type]] = {
    "String": ty.STRING,
    "Int": ty.INT,
    "Float": ty.FLOAT,
    "Boolean": ty.BOOLEAN,
}


def compile_checked(checked: Checked, registry: Registry) -> Pipeline:
    """The pipeline of a checked program without errors (ValueError if it has any)."""
    if not checked.ok:
        raise ValueError("cannot compile a program with errors; report its diagnostics instead")
    with recursion_room(ROOM_FRAMES):
        return _Compiler(checked, registry).run()


class _Refs:
    """The node ids one node's expression refers to, strict and conditional, in order."""

    __slots__ = ("lazy", "strict")

    def __init__(self) -> None:
        self.strict: dict[str, None] = {}
        self.lazy: dict[str, None] = {}

    def deps(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        strict = self.strict
        return tuple(strict), tuple(n for n in self.lazy if n not in strict)


class _Compiler:
    def __init__(self, checked: Checked, registry: Registry) -> None:
        self.checked = checked
        self.registry = registry
        self.types = checked.types
        self.calls = checked.calls
        self.options = checked.options
        self.locals = checked.locals
        self.match_levels = checked.match_levels
        self.lambda_levels = checked.lambda_levels
        self.nodes: list[Node] = []
        self.modules: dict[str, tuple[Mapping[str, object], tuple[str, ...]]] = {}
        self.aliases: dict[str, TypeExpr] = {}
        self.alias_types: dict[str, Type] = {}
        for decl in checked.program.declarations:
            if isinstance(decl, TypeDecl):
                self.aliases[decl.name] = decl.type
        # State of the declaration being compiled.
        self.decl = ""
        self.counter = 0
        self.hoist = True
        self.refs = _Refs()
        self.depth = 0  # binders enclosing the current position (checker levels)
        self.base = 0  # binder levels below this belong to an enclosing node (hoisted calls)
        self.in_lambda = 0
        #: checker binder level → static type of the value it binds (element, subject)
        self.bound: dict[int, Type] = {}
        # Dispatch by class: faster than a long ``match`` on the hot path.
        self.lowerers: dict[type, Callable[[Any, Any, bool], Expr]] = {
            Name: _Compiler.name,
            IntLit: _Compiler.literal,
            FloatLit: _Compiler.literal,
            StringLit: _Compiler.literal,
            BoolLit: _Compiler.literal,
            DurationLit: _Compiler.duration,
            Interpolation: _Compiler.interpolation,
            ListLit: _Compiler.list_literal,
            RecordLit: _Compiler.record_literal,
            Field: _Compiler.field,
            Project: _Compiler.project,
            Call: _Compiler.plain_call,
            WithCall: _Compiler.with_call,
            Binary: _Compiler.binary,
            AstNeg: _Compiler.neg,
            AstNot: _Compiler.not_,
            If: _Compiler.if_,
            Branch: _Compiler.branch,
            When: _Compiler.when,
            Coalesce: _Compiler.coalesce,
            Match: _Compiler.match,
        }

    # ------------------------------------------------------------------ program

    def run(self) -> Pipeline:
        checked = self.checked
        inputs: list[InputSpec] = []
        for name, info in checked.inputs.items():
            span = info.decl.name_span
            self.nodes.append(
                Node(name, "input", name, None, info.type, (), (), span.line, span.column, name)
            )
            inputs.append(
                InputSpec(name, info.type, info.has_default, info.default, info.doc, info.examples)
            )
        for name in checked.needed:
            decl = checked.assignments.get(name)
            if decl is not None:
                self.assignment(name, decl)
        needed = set(checked.needed)
        unused: list[UnusedAssignment] = []
        self.hoist = False
        for name, decl in checked.assignments.items():
            if name not in needed:
                self.start(name)
                expr = self.lower(decl.value, True)
                unused.append(UnusedAssignment(name, checked.value_types[name], expr))
        outputs = tuple((name, name) for name in checked.outputs)
        warnings = tuple(d for d in checked.diagnostics if not d.is_error)
        return Pipeline.build(
            tuple(self.nodes), tuple(inputs), outputs, checked.source.text, tuple(unused), warnings
        )

    def start(self, name: str) -> None:
        self.decl = name
        self.counter = 0
        self.refs = _Refs()
        self.depth = self.base = self.in_lambda = 0

    def assignment(self, name: str, decl: Assignment) -> None:
        self.start(name)
        value = decl.value
        call = value.call if isinstance(value, WithCall) else value
        resolved = self.calls.get(id(call)) if isinstance(call, Call) else None
        expr: Expr
        if isinstance(call, Call) and resolved is not None and self.hoisted(resolved, value):
            # The whole right-hand side is a module call: the declaration is the call node.
            with_ = value if isinstance(value, WithCall) else None
            expr = self.call_expr(call, with_, resolved, True)
            kind, label = "call", resolved.qualified_name
        else:
            expr = self.lower(value, True)
            kind, label = "value", name
        deps, lazy = self.refs.deps()
        span = decl.name_span
        self.nodes.append(
            Node(
                name,
                "call" if kind == "call" else "value",
                name,
                expr,
                self.checked.value_types[name],
                deps,
                lazy,
                span.line,
                span.column,
                label,
            )
        )

    # ------------------------------------------------------------------ expressions

    def lower(self, e: AstExpr, strict: bool) -> Expr:
        """``e`` as IR; ``strict``: whether the current node always evaluates this position."""
        return self.lowerers[e.__class__](self, e, strict)

    def ref(self, node_id: str, strict: bool) -> Ref:
        (self.refs.strict if strict else self.refs.lazy)[node_id] = None
        return Ref(node_id)

    def coerce(self, expr: Expr, source: Type, to: Type) -> Expr:
        """``expr`` converted from ``source`` to ``to`` where the value changes."""
        if source is to or not needs_conversion(source, to):
            return expr
        if isinstance(expr, Const):
            conv = converter(source, to)
            if conv is not None:
                value = conv(expr.value)
                if value is None or isinstance(value, int | float | str | bool):
                    return Const(value)
        return Convert(expr, source, to)

    def lowered_as(self, e: AstExpr, strict: bool, to: Type) -> Expr:
        return self.coerce(self.lower(e, strict), self.types[id(e)], to)

    def name(self, e: Name, strict: bool) -> Expr:
        binding = self.locals.get(id(e))
        if binding is None:
            return self.ref(e.name, strict)
        return self.local(binding, self.types[id(e)])

    def local(self, binding: Binding, static: Type) -> Expr:
        level = binding.level - self.base
        bound = self.bound[binding.level]
        if binding.field is None:
            return self.coerce(Local(level), bound, static)
        source = _field_type(bound, binding.field, static)
        return self.coerce(GetField(Local(level), binding.field, 0), source, static)

    def literal(self, e: IntLit | FloatLit | StringLit | BoolLit, strict: bool) -> Expr:
        return Const(e.value)

    def duration(self, e: DurationLit, strict: bool) -> Expr:
        raise AssertionError(f"a duration outside an option value at {e.span}")

    def interpolation(self, e: Interpolation, strict: bool) -> Expr:
        strings = [""]
        exprs: list[Expr] = []
        types: list[Type] = []
        for part in e.parts:
            if isinstance(part, str):
                strings[-1] += part
            else:
                exprs.append(self.lower(part, strict))
                types.append(self.types[id(part)])
                strings.append("")
        return Interpolate(tuple(strings), tuple(exprs), tuple(types))

    def list_literal(self, e: ListLit, strict: bool) -> Expr:
        list_t = self.types[id(e)]
        elem = list_t.elem if isinstance(list_t, ty.ListT) else ty.NOTHING
        return MakeList(tuple(self.lowered_as(x, strict, elem) for x in e.elements))

    def record_literal(self, e: RecordLit, strict: bool) -> Expr:
        return MakeRecord(
            tuple(f.name for f in e.fields), tuple(self.lower(f.value, strict) for f in e.fields)
        )

    def field(self, e: Field, strict: bool) -> Expr:
        depth, inner = ty.list_depth_elem(self.types[id(e.target)])
        expr: Expr = GetField(self.lower(e.target, strict), e.name, depth)
        if isinstance(inner, ty.UnionT):
            # Each variant's field has its own type; the access has their lub.
            static = self.types[id(e)]
            source = ty.wrap_lists(_field_type(inner, e.name, static), depth)
            expr = self.coerce(expr, source, static)
        return expr

    def project(self, e: Project, strict: bool) -> Expr:
        depth, _ = ty.list_depth_elem(self.types[id(e.target)])
        names = tuple(f.name for f in e.fields)
        return ProjectFields(self.lower(e.target, strict), names, depth)

    def binary(self, e: Binary, strict: bool) -> Expr:
        op = e.op
        if op == "and":
            return And(self.lower(e.left, strict), self.lower(e.right, False))
        if op == "or":
            return Or(self.lower(e.left, strict), self.lower(e.right, False))
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return Compare(op, self.lower(e.left, strict), self.lower(e.right, strict))
        left_t, right_t = self.types[id(e.left)], self.types[id(e.right)]
        if op == "+":
            depth_l, elem_l = ty.list_depth_elem(left_t)
            depth_r, elem_r = ty.list_depth_elem(right_t)
            if isinstance(elem_l, ty.RecordT) or isinstance(elem_r, ty.RecordT):
                shape = _MERGE_SHAPES[(depth_l > 0, depth_r > 0)]
                return Merge(self.lower(e.left, strict), self.lower(e.right, strict), shape)
        floating = self.types[id(e)] == ty.FLOAT
        left = self.lower(e.left, strict)
        right = self.lower(e.right, strict)
        if floating:
            left = self.coerce(left, left_t, ty.FLOAT)
            right = self.coerce(right, right_t, ty.FLOAT)
        return Arith(cast(ArithOp, op), left, right, floating)

    def neg(self, e: AstNeg, strict: bool) -> Expr:
        return Neg(self.lower(e.operand, strict), self.types[id(e)] == ty.FLOAT)

    def not_(self, e: AstNot, strict: bool) -> Expr:
        return Not(self.lower(e.operand, strict))

    def if_(self, e: If, strict: bool) -> Expr:
        t = self.types[id(e)]
        return IfExpr(
            self.lower(e.cond, strict),
            self.lowered_as(e.then, False, t),
            self.lowered_as(e.otherwise, False, t),
        )

    def branch(self, e: Branch, strict: bool) -> Expr:
        t = self.types[id(e)]
        arms = tuple(
            (self.lower(arm.cond, strict and i == 0), self.lowered_as(arm.value, False, t))
            for i, arm in enumerate(e.arms)
        )
        # Without arms, ``otherwise`` is always selected.
        otherwise = self.lowered_as(e.otherwise, strict and not arms, t)
        return BranchExpr(arms, otherwise)

    def when(self, e: When, strict: bool) -> Expr:
        value = self.lower(e.value, False)
        return WhenExpr(value, self.lower(e.cond, strict))

    def coalesce(self, e: Coalesce, strict: bool) -> Expr:
        t = self.types[id(e)]
        present = t if isinstance(t, ty.OptionalT) else ty.optional(t)
        left = self.lowered_as(e.left, strict, present)
        return CoalesceExpr(left, self.lowered_as(e.right, False, t))

    def match(self, e: Match, strict: bool) -> Expr:
        subject = self.lower(e.subject, strict)
        level = self.match_levels[id(e)]
        self.bound[level] = self.types[id(e.subject)]
        t = self.types[id(e)]
        saved = self.depth
        self.depth = level
        cases: list[MatchCase] = []
        for case in e.cases:
            pattern: Pattern
            match case.pattern:
                case Wildcard():
                    pattern = AnyPattern()
                case AstIsPattern(type=texpr):
                    pattern = IsPattern(self.resolve(texpr))
                case RecordPattern(fields=fields):
                    pattern = FieldsPattern(tuple(f.name for f in fields))
            cases.append(MatchCase(pattern, self.lowered_as(case.body, False, t)))
        self.depth = saved
        return MatchExpr(subject, level - self.base, tuple(cases))

    # ------------------------------------------------------------------ calls

    def plain_call(self, e: Call, strict: bool) -> Expr:
        return self.call(e, None, strict)

    def with_call(self, e: WithCall, strict: bool) -> Expr:
        return self.call(e.call, e, strict)

    def hoisted(self, resolved: ResolvedCall, call: AstExpr) -> bool:
        """Whether a call becomes its own node: a module call, outside lambda bodies, that
        uses no value bound by an enclosing match (it would not be visible in another node)."""
        return (
            resolved.kind == "module"
            and self.hoist
            and self.in_lambda == 0
            and (self.depth == 0 or not self.uses_locals(call, self.depth))
        )

    def call(self, call: Call, with_: WithCall | None, strict: bool) -> Expr:
        resolved = self.calls[id(call)]
        if resolved.higher_order:
            return self.higher_order(call, resolved, strict)
        if not self.hoisted(resolved, with_ if with_ is not None else call):
            return self.call_expr(call, with_, resolved, strict)
        self.counter += 1
        node_id = f"{self.decl}~{self.counter}"
        outer_refs, outer_base = self.refs, self.base
        self.refs, self.base = _Refs(), self.depth
        expr = self.call_expr(call, with_, resolved, True)
        deps, lazy = self.refs.deps()
        self.refs, self.base = outer_refs, outer_base
        span = call.span
        node_type = self.types[id(with_ if with_ is not None else call)]
        self.nodes.append(
            Node(
                node_id,
                "call",
                None,
                expr,
                node_type,
                deps,
                lazy,
                span.line,
                span.column,
                resolved.qualified_name,
            )
        )
        return self.ref(node_id, strict)

    def call_expr(
        self, call: Call, with_: WithCall | None, resolved: ResolvedCall, strict: bool
    ) -> CallExpr:
        args = tuple(
            self.lowered_as(cast(AstExpr, arg), strict, param)
            for arg, param in zip(call.args, resolved.params, strict=True)
        )
        values: dict[str, object] = {}
        param_names: tuple[str, ...] = ()
        if resolved.kind == "module":
            defaults, param_names = self.module(resolved.qualified_name)
            values.update(defaults)
        fallback: Expr | None = None
        if with_ is not None:
            given: Mapping[str, OptionValue] = self.options.get(id(with_), {})
            for name, value in given.items():
                if name != "fallback":
                    values[name] = value
            fallback_ast = given.get("fallback")
            if fallback_ast is not None:
                fb = cast(AstExpr, fallback_ast)
                fallback = self.lowered_as(fb, False, resolved.result)
        span = call.span
        return CallExpr(
            resolved.qualified_name,
            resolved.kind,
            resolved.version,
            args,
            resolved.params,
            resolved.result,
            Options.from_normalized(values, fallback),
            span.line,
            span.column,
            param_names,
        )

    def module(self, qualified_name: str) -> tuple[Mapping[str, object], tuple[str, ...]]:
        """A module's option defaults and parameter names (cached per compilation)."""
        found = self.modules.get(qualified_name)
        if found is None:
            module = self.registry.get(qualified_name)
            if module is None:
                found = ({}, ())
            else:
                found = (module.options, tuple(p.name for p in module.signature.params))
            self.modules[qualified_name] = found
        return found

    def higher_order(self, call: Call, resolved: ResolvedCall, strict: bool) -> Expr:
        items_ast, lam = call.args
        assert isinstance(lam, Lambda)
        assert not isinstance(items_ast, Lambda)
        kind = cast(HigherKind, resolved.qualified_name.rsplit(".", 1)[-1])
        items = self.lower(items_ast, strict)
        level = self.lambda_levels[id(lam)]
        list_t = self.types[id(items_ast)]
        elem = list_t.elem if isinstance(list_t, ty.ListT) else ty.NOTHING
        func_t = self.types[id(lam)]
        param = func_t.param if isinstance(func_t, ty.FuncT) else elem
        self.bound[level] = elem
        if needs_conversion(elem, param):
            # An annotated parameter of a wider type ((x: Float) => … over List<Int>): convert
            # the elements once, unless ``filter`` must return them unconverted (List<E>).
            result = self.types[id(call)]
            keep = kind == "filter" and not (
                isinstance(result, ty.ListT) and needs_conversion(elem, result.elem)
            )
            if not keep:
                items = self.coerce(items, list_t, ty.ListT(param))
                self.bound[level] = param
        saved = self.depth
        self.depth = level
        self.in_lambda += 1
        body = self.lower(lam.body, False)
        self.in_lambda -= 1
        self.depth = saved
        return HigherOrder(kind, items, level - self.base, body)

    def uses_locals(self, root: AstExpr, depth: int) -> bool:
        """Whether ``root`` refers to a value bound by a binder of level ``depth`` or less."""
        stack: list[AstExpr] = [root]
        locals_ = self.locals
        while stack:
            e = stack.pop()
            if isinstance(e, Name):
                binding = locals_.get(id(e))
                if binding is not None and binding.level <= depth:
                    return True
            else:
                stack.extend(_subexpressions(e))
        return False

    # ------------------------------------------------------------------ types

    def resolve(self, t: TypeExpr) -> Type:
        """A type expression of a checked program (aliases expanded, §3.2)."""
        match t:
            case TypeName(name=name):
                prim = _PRIMS.get(name)
                if prim is not None:
                    return prim
                found = self.alias_types.get(name)
                if found is None:
                    found = self.resolve(self.aliases[name])
                    self.alias_types[name] = found
                return found
            case TypeApp(name=name, args=args):
                resolved = [self.resolve(a) for a in args]
                if name == "Optional":
                    return ty.optional(resolved[0])
                if name == "Map":
                    return ty.MapT(resolved[0], resolved[1])
                return ty.ListT(resolved[0])
            case RecordType(fields=fields):
                return ty.RecordT(tuple((f.name, self.resolve(f.type)) for f in fields))
            case UnionType(members=members):
                return ty.union(self.resolve(m) for m in members)
            case MergeType(left=left, right=right):
                a, b = self.resolve(left), self.resolve(right)
                assert isinstance(a, ty.RecordT)
                assert isinstance(b, ty.RecordT)
                return ty.merge(a, b)


def _field_type(record: Type, name: str, fallback: Type) -> Type:
    """The union of ``name``'s types over the record variants of ``record`` that have it."""
    variants = record.members if isinstance(record, ty.UnionT) else (record,)
    found = [ft for v in variants if isinstance(v, ty.RecordT) for ft in (v.get(name),) if ft]
    return ty.union(found) if found else fallback


def _subexpressions(e: AstExpr) -> list[AstExpr]:
    """The direct sub-expressions of an AST expression, lambda bodies and fallbacks included."""
    match e:
        case Name() | IntLit() | FloatLit() | StringLit() | BoolLit() | DurationLit():
            return []
        case Interpolation(parts=parts):
            return [p for p in parts if not isinstance(p, str)]
        case ListLit(elements=elements):
            return list(elements)
        case RecordLit(fields=fields):
            return [f.value for f in fields]
        case Field(target=target) | Project(target=target):
            return [target]
        case Call(args=args):
            return [a.body if isinstance(a, Lambda) else a for a in args]
        case WithCall(call=call, options=options):
            return [call, *(o.value for o in options if o.value is not None)]
        case Binary(left=left, right=right) | Coalesce(left=left, right=right):
            return [left, right]
        case AstNeg(operand=x) | AstNot(operand=x):
            return [x]
        case If(cond=c, then=a, otherwise=b):
            return [c, a, b]
        case Branch(arms=arms, otherwise=otherwise):
            return [*(x for arm in arms for x in (arm.cond, arm.value)), otherwise]
        case When(value=value, cond=cond):
            return [value, cond]
        case Match(subject=subject, cases=cases):
            return [subject, *(c.body for c in cases)]
    return []


__all__ = ["compile_checked"]
