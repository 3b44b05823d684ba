import pytest

# The shared helpers assert too: give their failures pytest's detailed messages.
pytest.register_assert_rewrite("tests.helpers")
