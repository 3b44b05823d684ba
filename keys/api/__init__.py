"""The HTTP doors for integrations: the REST API (django-ninja) and the serialized key object every
API surface shares."""
