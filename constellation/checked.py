"""What the checker hands to the compiler: the program plus side tables keyed by node identity.

Side tables are keyed by ``id(node)`` of nodes inside ``Checked.program`` (AST nodes compare
by value and spans do not take part, so two equal ``x`` names in different places must not be
confused). The tables stay valid as long as the ``Checked`` value (which holds the program)
is alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from constellation.errors import Diagnostic
from constellation.source import Source
from constellation.syntax import Assignment, Expr, InputDecl, Program
from constellation.types import Type

CallKind = Literal["module", "library"]


@dataclass(frozen=True, slots=True)
class ResolvedCall:
    """The function a call resolved to, with its signature instantiated at this call.

    ``params`` are the types the arguments are converted to; ``result`` is the function's
    result type at this call (before ``on_error: wrap``); the call expression's own type
    (``Checked.types[id(call)]``) includes the wrap. For ``map``/``filter``/``all``/``any``
    ``kind`` is ``"library"`` and ``higher_order`` is True; their second parameter type is the
    lambda's ``FuncT``.
    """

    qualified_name: str
    kind: CallKind
    version: str
    params: tuple[Type, ...]
    result: Type
    higher_order: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    """A name that refers to a local, not to a program value.

    ``level`` numbers the binders enclosing the reference from the outside in (1 = the
    outermost lambda or match of the declaration). A lambda binds its parameter at its level
    (``field`` is None). A match binds its subject at its level; a field bound by a record
    pattern is ``field`` of that subject.
    """

    level: int
    field: str | None = None


@dataclass(frozen=True, slots=True)
class InputInfo:
    """A declared input: its type, default (as a Python value converted to the type), docs."""

    name: str
    type: Type
    decl: InputDecl
    has_default: bool = False
    default: object = None
    doc: str | None = None
    examples: tuple[object, ...] = ()


# Normalized option values (language.md §8.2, §12): durations in ms, priority words as numbers,
# ``propagate`` as ``fail``, ``lazy`` as a bool, ``throttle`` as (count, ms), ``fallback`` the
# expression (typed in ``Checked.types``).
OptionValue = int | str | bool | tuple[int, int] | Expr


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked program. ``ok`` is False when any diagnostic is an error."""

    program: Program
    source: Source
    diagnostics: tuple[Diagnostic, ...]
    inputs: Mapping[str, InputInfo]
    assignments: Mapping[str, Assignment]
    outputs: tuple[str, ...]
    #: value name -> the value names its expression references (any position)
    dependencies: Mapping[str, frozenset[str]]
    #: the value names some output needs (transitively), dependencies before dependants
    needed: tuple[str, ...]
    #: value name -> its type (inputs: declared; assignments: inferred)
    value_types: Mapping[str, Type]
    #: id(expression or lambda) -> its type
    types: Mapping[int, Type]
    #: id(Call) -> the resolved function
    calls: Mapping[int, ResolvedCall]
    #: id(WithCall) -> normalized options, sorted by name
    options: Mapping[int, Mapping[str, OptionValue]]
    #: id(Name) -> local binding, for names that refer to lambda parameters or match bindings
    locals: Mapping[int, Binding]
    #: id(Match) -> the binder level of its subject
    match_levels: Mapping[int, int]
    #: id(Lambda) -> the binder level of its parameter
    lambda_levels: Mapping[int, int]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)
