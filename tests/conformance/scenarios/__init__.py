"""The scenario list (one registry, filled by the modules below, one per operation family)."""
from tests.conformance.scenarios import (  # noqa: F401
    buckets, copy, delete, encryption, lifecycle, listing, multipart, objects, policy, settings, tagging,
    versions, website)
