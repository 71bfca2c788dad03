"""The test Neo4j server: a real server that answers Bolt, checks passwords, stays on loopback."""
from __future__ import annotations

import ipaddress
import socket
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import neo4j
import pytest
from neo4j.exceptions import AuthError


@pytest.fixture(scope="module")
def driver(neo4j_server):
    with neo4j.GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password)) as drv:
        yield drv


def test_write_then_read_through_the_driver(driver):
    token = str(uuid.uuid4())
    written = driver.execute_query("CREATE (p:ServerProbe {token: $token}) RETURN p.token AS token",
                                   {"token": token}, database_="neo4j", routing_="w")
    assert [r["token"] for r in written.records] == [token]
    read = driver.execute_query("MATCH (p:ServerProbe {token: $token}) RETURN count(p) AS n",
                                {"token": token}, database_="neo4j", routing_="r")
    assert read.records[0]["n"] == 1
    driver.execute_query("MATCH (p:ServerProbe {token: $token}) DELETE p", {"token": token},
                         database_="neo4j", routing_="w")


def test_it_is_neo4j_5_26_community(driver):
    component = driver.execute_query("CALL dbms.components() YIELD name, versions, edition "
                                     "RETURN versions[0] AS version, edition", database_="neo4j").records[0]
    assert component["version"].startswith("5.26.")
    assert component["edition"] == "community"


def test_the_store_url_carries_the_credentials(neo4j_server):
    parts = urlsplit(neo4j_server.url)
    assert parts.scheme == "neo4j" and parts.hostname == "127.0.0.1" and parts.port == neo4j_server.port
    assert unquote(parts.username) == neo4j_server.user
    assert unquote(parts.password) == neo4j_server.password
    # The routing scheme works unchanged against the single server.
    with neo4j.GraphDatabase.driver(f"neo4j://{parts.hostname}:{parts.port}",
                                    auth=(unquote(parts.username), unquote(parts.password))) as drv:
        assert drv.execute_query("RETURN 1 AS one", database_="neo4j", routing_="r").records[0]["one"] == 1


def test_a_wrong_password_is_refused(neo4j_server):
    with neo4j.GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password + "x")) as drv:
        with pytest.raises(AuthError):
            drv.verify_connectivity()


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table, width in (("tcp", 4), ("tcp6", 16)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, width, 4))
            address = ipaddress.ip_address(raw)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            found.append((str(address), int(hex_port, 16)))
    return found


def _outbound_address() -> str | None:
    """The address of the interface that would carry outbound traffic (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_it_listens_on_loopback_only(neo4j_server):
    sockets = _listening_sockets(neo4j_server.pid)
    assert ("127.0.0.1", neo4j_server.port) in sockets
    # Nothing else either: no HTTP, no routing or discovery port on a public address.
    assert all(ipaddress.ip_address(address).is_loopback for address, _ in sockets), sockets
    own = _outbound_address()
    if own:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(2)
            assert client.connect_ex((own, neo4j_server.port)) != 0


@pytest.mark.parametrize("analyzer, text, found, missed", [
    # cjk indexes overlapping character pairs: any two-character run of unsegmented Chinese matches.
    ("cjk", "太阳能干燥机用于稻谷干燥", ["太阳", "阳能", "稻谷", "\"太阳能干燥\""], ["能源"]),
    # thai segments unsegmented Thai into dictionary words with the JDK's Thai BreakIterator.
    ("thai", "เครื่องอบแห้งพลังงานแสงอาทิตย์สำหรับข้าว", ["พลังงาน", "แสงอาทิตย์", "ข้าว"], ["แบตเตอรี่"]),
])
def test_fulltext_analyzers_for_chinese_and_thai(driver, analyzer, text, found, missed):
    def run(query: str, **params):
        return driver.execute_query(query, params, database_="neo4j", routing_="w").records

    # Fixed names: schema names cannot be parameters, and nothing here comes from input.
    index, label = f"server_probe_{analyzer}", f"ServerProbe{analyzer.capitalize()}"
    run(f"DROP INDEX {index} IF EXISTS")
    run(f"CREATE FULLTEXT INDEX {index} FOR (n:{label}) ON EACH [n.text] "
        "OPTIONS {indexConfig: {`fulltext.analyzer`: $analyzer}}", analyzer=analyzer)
    try:
        run("CALL db.awaitIndexes(60)")
        run(f"CREATE (:{label} {{text: $text}})", text=text)

        def hits(term: str) -> int:
            return len(run("CALL db.index.fulltext.queryNodes($index, $term) YIELD node RETURN node",
                           index=index, term=term))

        assert {term: hits(term) for term in found} == {term: 1 for term in found}
        assert {term: hits(term) for term in missed} == {term: 0 for term in missed}
    finally:
        run(f"MATCH (n:{label}) DELETE n")
        run(f"DROP INDEX {index} IF EXISTS")


def test_a_password_that_looks_like_an_option_is_set_and_accepted(tmp_path):
    # Generated passwords are URL-safe base64 and may begin with "-"; setting one must not be
    # read as a command-line option by the admin tool.
    from neo4j_server import Neo4jServer

    with Neo4jServer(tmp_path / "neo4j", heap="256m", pagecache="64m", password="-h--x" + uuid.uuid4().hex) as server:
        with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as drv:
            assert drv.execute_query("RETURN 1 AS one", database_="neo4j").records[0]["one"] == 1
