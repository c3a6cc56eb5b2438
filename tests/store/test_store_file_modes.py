"""Issue 20, attack 6: files that hold secrets are created 0600 whatever
the umask. On main the database was created 0644 (the umask's default) and
its -wal and -shm too."""

import os
import stat

import pytest

from chat.store.sqlite import SqliteStore


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_and_its_wal_and_shm_are_created_0600(tmp_path, loose_umask):
    path = str(tmp_path / "chat.sqlite3")
    store = SqliteStore(path, 10)
    store.set_account("alice", b"s" * 16, b"h" * 32, 2 ** 15)
    store.commit()
    try:
        for name in (path, path + "-wal", path + "-shm"):
            assert os.path.exists(name), name
            assert mode(name) == 0o600, (name, oct(mode(name)))
    finally:
        store.close()
