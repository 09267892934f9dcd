"""Sans-IO tests of the wire formats in ``component_framework.protocol``."""
