"""What several test modules share. Test modules never import each other; they import from here
(or ask tests/conftest.py for a fixture)."""
