"""Users, S3 key pairs and REST API keys in the metadata store (SQLite and PostgreSQL via db_url)."""
from __future__ import annotations

import pytest

from s3server.meta.errors import AlreadyExists, NotFound



def test_users(store):
    alice = store.create_user("alice", is_admin=True)
    bob = store.create_user("bob")
    assert alice.is_admin and not bob.is_admin and alice.id != bob.id
    assert alice.created_at.tzinfo is not None
    with pytest.raises(AlreadyExists):
        store.create_user("alice")
    assert store.get_user(alice.id) == alice
    assert store.get_user_by_name("bob") == bob
    assert store.get_user(999) is None and store.get_user_by_name("nobody") is None
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    store.set_user_disabled(bob.id, True)
    assert store.get_user(bob.id).disabled
    store.set_user_disabled(bob.id, False)
    assert not store.get_user(bob.id).disabled
    with pytest.raises(NotFound):
        store.set_user_disabled(999, True)


def test_credentials(store):
    u = store.create_user("alice")
    c = store.add_credential(u.id, "AKIA1", "secret1")
    store.add_credential(u.id, "AKIA2", "secret2")
    with pytest.raises(AlreadyExists):
        store.add_credential(u.id, "AKIA1", "other")
    with pytest.raises(NotFound):
        store.add_credential(999, "AKIA3", "x")
    got, user = store.get_credential("AKIA1")
    assert got == c and user == u
    assert store.get_credential("nope") is None
    assert [x.access_key for x in store.list_credentials(u.id)] == ["AKIA1", "AKIA2"]
    store.revoke_credential("AKIA1")
    got, _ = store.get_credential("AKIA1")          # revoked ones are still returned
    assert got.revoked and got.secret_key == "secret1"
    with pytest.raises(NotFound):
        store.revoke_credential("nope")


def test_api_keys(store):
    u = store.create_user("alice")
    k = store.add_api_key(u.id, "hash1", "s3k_ab")
    with pytest.raises(AlreadyExists):
        store.add_api_key(u.id, "hash1", "s3k_ab")
    got, user = store.get_api_key("hash1")
    assert got == k and user == u
    assert store.get_api_key("hash2") is None
    assert store.list_api_keys(u.id) == [k]
    store.revoke_api_key(k.id)
    assert store.get_api_key("hash1")[0].revoked
    with pytest.raises(NotFound):
        store.revoke_api_key(12345)
