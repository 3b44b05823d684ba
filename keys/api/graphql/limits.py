"""Abuse limits checked before any resolver runs, cheaply enough to refuse any document in
milliseconds whatever its shape.

- The document is parsed with a token limit (graphql-core's own ``max_lexical_tokens``, what
  strawberry's ``MaxTokensLimiter`` sets; that extension runs only inside ``Schema.execute``, which
  the view does not use, see ``execute_prepared``).
- :data:`CHEAP_RULES` run first, alone: what a query costs, how deep it nests, and graphql-core's
  own rules that fragments must pass before they can be expanded (known names, no cycles). Only a
  document that passes them meets the full standard rules, some of which walk every fragment
  spread again.
- Cost: every field and every alias counts, as the executor would run it (a fragment counts each
  time it is spread); a root field that reads the database weighs :data:`COSTLY_ROOT_FIELD`.
- Introspection (``__schema``, ``__type``) has a budget of its own, as the explorer's and client
  generators' introspection query nests deeper than any query of our schema needs: fields, depth,
  ``__schema`` once, and no aliases (an alias is how a response repeats the whole schema).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from graphql import (
    SKIP,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    KnownFragmentNamesRule,
    Node,
    NoFragmentCyclesRule,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
    validate,
)
from graphql.validation.validate import ValidationAbortedError

from keys.errors import ErrorCode

MAX_BODY_BYTES = 64 * 1024
MAX_TOKENS = 2_000
MAX_COMMENTS = 1_000
MAX_DEPTH = 10
MAX_COST = 200
MAX_INTROSPECTION_FIELDS = 300
MAX_INTROSPECTION_DEPTH = 15

# Root fields answered without the database, from the request itself; every other root field
# (apiKeys, apiKey, scopes, each mutation, and any new one) reads or writes it and weighs more.
CHEAP_ROOT_FIELDS = frozenset({"currentKey", "currentUser", "__typename"})
COSTLY_ROOT_FIELD = 10
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def too_complex(message: str, nodes: Node | list[Node] | None = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.graphql})


def parse_limited(query: str) -> DocumentNode:
    """The document, or GraphQLSyntaxError; a document over the token limit is too complex (the
    parser stops at the limit, so reading a long one costs no more than reading a short one)."""
    try:
        return parse(query, max_lexical_tokens=MAX_TOKENS, max_comments=MAX_COMMENTS)
    except GraphQLSyntaxError as error:
        # graphql-core tells these two apart from other syntax errors by their message only.
        if "Document contains more than" in error.message:
            raise too_complex(
                f"The query has more than {MAX_TOKENS:,} tokens (or {MAX_COMMENTS:,} comments); "
                f"that is the limit."
            ) from None
        if "nested too deeply" in error.message:
            raise too_complex(f"The query nests far deeper than the limit ({MAX_DEPTH}).") from None
        raise


def refusals(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
    """What :data:`CHEAP_RULES` refuse in the document. graphql-core aborts the validation of a
    document whose selections nest too deeply through its fragments (before any rule recurses
    into them): too complex too."""
    errors = validate(schema, document, CHEAP_RULES)
    if any(isinstance(error, ValidationAbortedError) for error in errors):
        return [too_complex(f"The query nests far deeper than the limit ({MAX_DEPTH}).")]
    return errors


class Mode(Enum):
    ROOT = "root"  # the operation's own selection set: root fields weigh by what they read
    NESTED = "nested"  # below a root field: each field and alias weighs 1
    INTROSPECTION = "introspection"  # below __schema or __type: counted in their own budget


@dataclass(frozen=True)
class Measure:
    """What a selection set asks for, saturated just past each limit so that a counted number
    never grows without bound (a fan-out of fragments doubles it per level)."""

    cost: int = 0
    depth: int = 0
    introspection_fields: int = 0
    introspection_depth: int = 0
    schemas: int = 0
    introspection_aliases: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            cost=min(self.cost + other.cost, MAX_COST + 1),
            depth=max(self.depth, other.depth),
            introspection_fields=min(
                self.introspection_fields + other.introspection_fields, MAX_INTROSPECTION_FIELDS + 1
            ),
            introspection_depth=max(self.introspection_depth, other.introspection_depth),
            schemas=min(self.schemas + other.schemas, 2),
            introspection_aliases=min(self.introspection_aliases + other.introspection_aliases, 1),
        )


class QueryCostRule(ValidationRule):
    """Measures each operation of the document. Hand-written because the library's limiters
    (strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``) expand every fragment spread
    again, as the counter this replaced did: a fragment spread twice per level for 24 levels kept
    a worker busy past its timeout. Here each fragment is measured once per mode and reused, so a
    document costs time in proportion to its length, whatever it expands to.

    Measured on 2026-12-04 (strawberry 0.341, graphql-core 3.3, this machine; ``validate`` of the
    fan-out document of ``tests/helpers/graphql.fan_out`` with each rule alone):

    ========  =====  ============  ====================  ===================
    levels    bytes  this rule     QueryDepthLimiter(10)  MaxAliasesLimiter(15)
    ========  =====  ============  ====================  ===================
    12        468    0.9 ms        15 ms                 8 ms
    16        616    1.1 ms        242 ms                82 ms
    18        690    0.9 ms        990 ms                365 ms
    24        912    1.0 ms        about 63 s (×4 per    about 23 s
                                   two levels)
    ========  =====  ============  ====================  ===================
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        definitions = context.document.definitions
        self.fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        self.measured: dict[tuple[str, Mode], Measure] = {}
        self.measuring: set[str] = set()

    def enter_operation_definition(self, node: OperationDefinitionNode, *args: Any) -> Any:
        # Called after graphql-core's own check that the operation, its fragments included, does
        # not nest deeper than the parser allows (200): the recursion below stays well within
        # Python's limit.
        self._check(node, self._selections(node.selection_set, Mode.ROOT))
        return SKIP

    def _check(self, node: OperationDefinitionNode, m: Measure) -> None:
        if m.depth > MAX_DEPTH:
            message = f"The query nests {m.depth} levels deep; the limit is {MAX_DEPTH}."
        elif m.cost > MAX_COST:
            message = (
                f"The query costs more than {MAX_COST}: each field and alias costs 1, a root field "
                f"that reads the database (all but currentKey and currentUser) {COSTLY_ROOT_FIELD}, "
                "and a fragment counts each time it is spread."
            )
        elif m.schemas > 1:
            message = "__schema may be asked for once per query."
        elif m.introspection_aliases:
            message = "Aliases are not allowed inside introspection (__schema, __type)."
        elif m.introspection_fields > MAX_INTROSPECTION_FIELDS:
            message = f"Introspection asks for more than {MAX_INTROSPECTION_FIELDS} fields, the limit."
        elif m.introspection_depth > MAX_INTROSPECTION_DEPTH:
            message = (
                f"Introspection nests {m.introspection_depth} levels deep; "
                f"the limit is {MAX_INTROSPECTION_DEPTH}."
            )
        else:
            return
        self.report_error(too_complex(message, node))

    def _selections(self, selection_set: SelectionSetNode | None, mode: Mode) -> Measure:
        total = Measure()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self._field(selection, mode)
            elif isinstance(selection, InlineFragmentNode):
                total += self._selections(selection.selection_set, mode)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, mode)
        return total

    def _fragment(self, name: str, mode: Mode) -> Measure:
        # An unknown fragment or a cycle counts nothing here: the cheap pass refuses both anyway.
        if (name, mode) not in self.measured:
            if name not in self.fragments or name in self.measuring:
                return Measure()
            self.measuring.add(name)
            self.measured[name, mode] = self._selections(self.fragments[name].selection_set, mode)
            self.measuring.discard(name)
        return self.measured[name, mode]

    def _field(self, field: FieldNode, mode: Mode) -> Measure:
        name = field.name.value
        if mode is Mode.INTROSPECTION or name in INTROSPECTION_ROOTS:
            below = self._selections(field.selection_set, Mode.INTROSPECTION)
            this = Measure(
                introspection_fields=1,
                schemas=int(name == "__schema"),
                introspection_aliases=int(field.alias is not None),
            )
            return replace(below + this, introspection_depth=below.introspection_depth + 1)
        below = self._selections(field.selection_set, Mode.NESTED)
        weight = COSTLY_ROOT_FIELD if mode is Mode.ROOT and name not in CHEAP_ROOT_FIELDS else 1
        return replace(below + Measure(cost=weight), depth=below.depth + 1)


# Run alone, before the full standard rules: each is cheap whatever the document expands to.
CHEAP_RULES = (KnownFragmentNamesRule, NoFragmentCyclesRule, QueryCostRule)
