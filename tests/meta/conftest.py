"""Fixtures of the metadata store's tests: a fresh store on each backend (``db_url``) and a bucket."""
from __future__ import annotations

import pytest

from s3server.meta.store import MetadataStore


@pytest.fixture
def store(db_url):
    st = MetadataStore.from_url(db_url, pool_size=8)
    st.create_schema()
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def bucket(store):
    user = store.create_user("owner")
    store.create_bucket("bkt", user.id, "us-east-1")
    return "bkt"
