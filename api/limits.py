"""Limits on what one GraphQL document may ask for: nesting depth and aliases.

Token counts are bounded at parse time (``parse(max_tokens=…)``); these rules run with the
standard validation, so an oversized document is refused before anything executes.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)


def depth_limit(max_depth: int) -> type[ASTValidationRule]:
    """Return a rule refusing operations nested deeper than ``max_depth`` fields."""

    class DepthLimit(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_args: Any) -> None:
            depths = _Depths(
                {
                    definition.name.value: definition
                    for definition in node.definitions
                    if isinstance(definition, FragmentDefinitionNode)
                }
            )
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                depth = depths.of(definition.selection_set)
                if depth > max_depth:
                    name = definition.name.value if definition.name else "the operation"
                    self.report_error(
                        GraphQLError(
                            f"{name} is nested {depth} levels deep; the limit is {max_depth}",
                            definition,
                            extensions={"code": "QUERY_TOO_DEEP"},
                        )
                    )

    return DepthLimit


class _Depths:
    """The depth of selection sets in one document, each fragment measured once.

    Measuring a fragment again at every spread is exponential in the length of a chain of
    fragments that each spread the next twice, and this rule runs before any other has
    refused the document.
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.known: dict[str, int] = {}
        self.visiting: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue  # introspection is bounded by its own rule
                deepest = max(deepest, 1 + self.of(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.of(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self.fragment(selection.name.value))
        return deepest

    def fragment(self, name: str) -> int:
        if name in self.known:
            return self.known[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.visiting:
            return 0  # unknown fragments and cycles are refused by the standard rules
        self.visiting.add(name)
        depth = self.of(fragment.selection_set)
        self.visiting.discard(name)
        self.known[name] = depth
        return depth


def alias_limit(max_aliases: int) -> type[ASTValidationRule]:
    """Return a rule refusing documents with more than ``max_aliases`` aliased fields."""

    class AliasLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            if node.alias is not None:
                self.count += 1
                if self.count == max_aliases + 1:
                    self.report_error(
                        GraphQLError(
                            f"the document uses more than {max_aliases} aliases",
                            node,
                            extensions={"code": "TOO_MANY_ALIASES"},
                        )
                    )

    return AliasLimit
