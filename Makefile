# Jembatan — two commands on a fresh machine: `make demo` and `make test`.
# Everything else they need is installed by the targets below.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DIR ?= var/demo
SCALE  ?= 1
PORT   ?= 5000

.PHONY: install neo4j couch chromium demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Browser assets come from npm at build time and are served by the app (no CDN).
VENDOR := api/static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js $(VENDOR)/swagger-ui/
	mkdir -p $(VENDOR)/echarts $(VENDOR)/cytoscape
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE $(VENDOR)/echarts/
	cp node_modules/cytoscape/dist/cytoscape.min.js node_modules/cytoscape/LICENSE $(VENDOR)/cytoscape/
	touch $@

# The message catalogs compiled (.mo files are built here, never committed).
MO_STAMP := translations/.compiled
$(MO_STAMP): $(STAMP) $(wildcard translations/*/LC_MESSAGES/messages.po)
	$(BIN)/python -m jembatan.translations.catalogs compile
	touch $@

install: $(STAMP) $(VENDOR)/.installed $(MO_STAMP)

# A node filled with the demo alliance, served on 127.0.0.1.
demo: install
	$(BIN)/jembatan demo --federation --dir $(DEMO_DIR)/federation-$(SCALE) --scale $(SCALE) --port $(PORT)

# A Neo4j 5.26 Community server for the tests, assembled from Maven Central into .cache/neo4j
# (tests/neo4j/pom.xml; tests/neo4j_server.py runs it). The old classpath is removed first so a
# version change never leaves two Neo4j versions side by side.
NEO4J_CACHE := .cache/neo4j
NEO4J_STAMP := $(NEO4J_CACHE)/.built
$(NEO4J_STAMP): tests/neo4j/pom.xml $(wildcard tests/neo4j/src/main/java/jembatan/neo4j/*.java)
	command -v java >/dev/null && command -v mvn >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven)
	rm -rf $(NEO4J_CACHE)/lib $(NEO4J_CACHE)/target
	mvn -q -B -Dstyle.color=never -f tests/neo4j/pom.xml package
	touch $@

neo4j: $(NEO4J_STAMP)

# pouchdb-server, the CouchDB-protocol replication the sync benchmark is compared with. Its
# optional native modules' install scripts download binaries; in memory none is needed.
COUCH_STAMP := bench/couch/node_modules/.installed
$(COUCH_STAMP): bench/couch/package.json bench/couch/package-lock.json
	npm ci --prefix bench/couch --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

couch: $(COUCH_STAMP)

# Debian's Chromium for tests/browser (Playwright drives it; Playwright's own browser
# download is not used), and Noto fonts so the screenshots show Chinese, Thai, Burmese, Khmer
# and Lao text. JEMBATAN_CHROMIUM may name another executable.
chromium:
	command -v chromium >/dev/null && fc-list :lang=my | grep -q . && fc-list :lang=zh | grep -q . || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-core fonts-noto-cjk)

test: install neo4j couch chromium
	$(BIN)/pytest -q

# Benchmarks print tables; BENCHMARKS.md records them with the machine's description.
bench: install neo4j couch
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache node_modules bench/couch/node_modules $(VENDOR) $(NEO4J_CACHE)
