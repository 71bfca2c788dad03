"""Staff accounts in a real auth.db: hashing, sessions, the lockout, and `jembatan staff`."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from jembatan.api.cli import cli
from jembatan.api.node import Tokens, init_node
from jembatan.api.staff_accounts import Lockout, StaffAccounts, StaffError

PASSWORD = "correct horse battery staple"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_node(tmp_path / "node", name="Staff Test", country="TH", node_id="staff-test")
    return tmp_path / "node"


def stored_hash(home: Path, name: str) -> str:
    with sqlite3.connect(home / "auth.db") as db:
        return db.execute("SELECT hash FROM staff WHERE name = ?", (name,)).fetchone()[0]


def test_the_password_is_stored_as_a_scrypt_hash_and_verifies(home):
    accounts = StaffAccounts(home)
    accounts.add("alice", PASSWORD, "editor")
    kept = stored_hash(home, "alice")
    assert PASSWORD not in kept and kept.startswith("scrypt:")
    account = accounts.verify("alice", PASSWORD)
    assert account is not None and (account.name, account.role) == ("alice", "editor")
    assert accounts.verify("alice", PASSWORD + "!") is None
    assert accounts.verify("alice", "") is None
    assert accounts.verify("nobody", PASSWORD) is None
    # two accounts with one password do not share a hash (salted)
    accounts.add("bob", PASSWORD, "viewer")
    assert stored_hash(home, "bob") != kept


def test_names_are_compared_case_and_width_insensitively(home):
    accounts = StaffAccounts(home)
    accounts.add("Alice", PASSWORD, "editor")
    assert accounts.verify("ＡＬＩＣＥ ", PASSWORD).name == "alice"
    with pytest.raises(StaffError, match="already"):
        accounts.add("ALICE", PASSWORD, "admin")


@pytest.mark.parametrize("name, password, role, problem", [
    ("alice", "short pass", "editor", "at least 12"),
    ("alice", PASSWORD, "owner", "unknown role"),
    ("two words", PASSWORD, "editor", "staff name"),
    ("", PASSWORD, "editor", "staff name"),
])
def test_bad_accounts_are_refused(home, name, password, role, problem):
    with pytest.raises(StaffError, match=problem):
        StaffAccounts(home).add(name, password, role)
    assert StaffAccounts(home).list() == []


def test_the_staff_table_sits_beside_the_tokens(home):
    token = Tokens(home).create("editor")
    StaffAccounts(home).add("alice", PASSWORD, "admin")
    assert Tokens(home).role_of(token) == "editor"
    assert [a.name for a in StaffAccounts(home).list()] == ["alice"]


def test_sessions_end_at_sign_out_at_expiry_and_with_the_account(home):
    accounts = StaffAccounts(home)
    accounts.add("alice", PASSWORD, "editor")
    sid = accounts.open_session("alice")
    assert accounts.session_account(sid).role == "editor"
    assert accounts.session_account(sid + "x") is None
    accounts.close_session(sid)
    assert accounts.session_account(sid) is None
    assert accounts.session_account(accounts.open_session("alice", seconds=-1)) is None
    sid = accounts.open_session("alice")
    accounts.remove("alice")
    assert accounts.session_account(sid) is None
    with sqlite3.connect(home / "auth.db") as db:          # only a hash of the id is kept
        assert db.execute("SELECT count(*) FROM staff_sessions WHERE sid = ?", (sid,)).fetchone()[0] == 0


def test_five_failures_within_the_window_lock_a_name_for_a_while():
    now = [0.0]
    lockout = Lockout(attempts=5, window=900, clock=lambda: now[0])
    for _ in range(4):
        lockout.failed("alice")
    assert not lockout.locked("alice")
    lockout.failed("ALICE")
    assert lockout.locked("alice") and not lockout.locked("bob")
    now[0] += 899
    assert lockout.locked("alice")
    now[0] += 2
    assert not lockout.locked("alice")


def test_failures_spread_over_more_than_the_window_do_not_lock():
    now = [0.0]
    lockout = Lockout(attempts=5, window=900, clock=lambda: now[0])
    for _ in range(8):
        lockout.failed("alice")
        now[0] += 300
    assert not lockout.locked("alice")
    lockout.succeeded("alice")
    for _ in range(4):
        lockout.failed("alice")
    assert not lockout.locked("alice")


def test_the_lockout_memory_stays_bounded():
    lockout = Lockout(max_names=100)
    for n in range(1000):
        lockout.failed(f"name{n}")
    assert len(lockout._failures) <= 100


# -- the CLI -----------------------------------------------------------------------------------

def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def test_cli_adds_lists_and_removes_staff(home):
    result = run("staff", "add", "alice", "--role", "editor", "--password-stdin",
                 "--dir", str(home), input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert StaffAccounts(home).verify("alice", PASSWORD) is not None
    # from the prompt, typed twice
    result = run("staff", "add", "bob", "--role", "viewer", "--dir", str(home),
                 input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    listing = run("staff", "list", "--dir", str(home))
    assert listing.exit_code == 0
    rows = [line.split("\t")[:2] for line in listing.output.splitlines()]
    assert rows == [["alice", "editor"], ["bob", "viewer"]]
    assert run("staff", "remove", "alice", "--dir", str(home)).exit_code == 0
    assert [a.name for a in StaffAccounts(home).list()] == ["bob"]
    gone = run("staff", "remove", "alice", "--dir", str(home))
    assert gone.exit_code == 1 and "no staff account" in gone.output


def test_cli_refuses_a_short_password_and_an_unknown_role(home):
    short = run("staff", "add", "alice", "--role", "editor", "--password-stdin",
                "--dir", str(home), input="too short\n")
    assert short.exit_code == 1 and "at least 12" in short.output
    role = run("staff", "add", "alice", "--role", "owner", "--password-stdin",
               "--dir", str(home), input=PASSWORD + "\n")
    assert role.exit_code == 2
    assert StaffAccounts(home).list() == []
