"""The scenario list (one registry, filled by the modules below, one per operation family)."""
from tests.conformance.scenarios import buckets, copy, delete, listing, multipart, objects, tagging  # noqa: F401
