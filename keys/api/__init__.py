"""The HTTP doors for integrations: the REST API (django-ninja), GraphQL, the serialized key object
every API surface shares, and the middleware that authenticates and meters every request to
``/api/`` with a key (``keys.authentication``, ``keys.metering``)."""
