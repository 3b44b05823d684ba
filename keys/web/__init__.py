"""The portal pages for API keys: thin views over ``keys.services`` and ``keys.selectors``."""
