"""GraphQL at ``/api/graphql`` (strawberry): the same key, services, selectors, access rules and
FilterSet as REST, and a signed-in member's session too."""
