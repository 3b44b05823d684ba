"""Abuse limits checked before any resolver runs: how deep a query nests and how many fields (with
their aliases) it asks for. Introspection (``__schema``, ``__type``) is not counted: the explorer's
own introspection query nests deeper than any query of our schema needs."""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

MAX_DEPTH = 10
MAX_FIELDS = 200
MAX_BODY_BYTES = 64 * 1024
TOO_COMPLEX = "query_too_complex"


class QueryComplexityRule(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *args) -> None:
        fragments = {
            f.name.value: f
            for f in self.context.document.definitions
            if isinstance(f, FragmentDefinitionNode)
        }
        depth, fields = _measure(node.selection_set, fragments, frozenset())
        if depth > MAX_DEPTH:
            self._refuse(f"The query nests {depth} levels deep; the limit is {MAX_DEPTH}.", node)
        elif fields > MAX_FIELDS:
            self._refuse(f"The query asks for {fields} fields; the limit is {MAX_FIELDS}.", node)

    def _refuse(self, message: str, node: OperationDefinitionNode) -> None:
        self.report_error(GraphQLError(message, node, extensions={"code": TOO_COMPLEX}))


def _measure(
    selection_set: SelectionSetNode | None, fragments: dict, seen: frozenset[str]
) -> tuple[int, int]:
    """(depth, number of fields) below a selection set; fragments are expanded (each once per
    path, so a fragment cycle, refused by the standard rules anyway, cannot loop)."""
    if selection_set is None:
        return 0, 0
    depth = fields = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            below, count = _measure(selection.selection_set, fragments, seen)
            depth, fields = max(depth, below + 1), fields + count + 1
        elif isinstance(selection, InlineFragmentNode):
            below, count = _measure(selection.selection_set, fragments, seen)
            depth, fields = max(depth, below), fields + count
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                continue
            below, count = _measure(fragments[name].selection_set, fragments, seen | {name})
            depth, fields = max(depth, below), fields + count
    return depth, fields
