# A Jembatan node. Build context: the repository root.

# Browser assets come from npm at build time, as with `make install`: no CDN at run time.
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
WORKDIR /app
# Only the package's own folders: the build context also holds caches and virtualenvs.
COPY pyproject.toml README.md ./
COPY network network
COPY graph graph
COPY sync sync
COPY api api
COPY translations translations
COPY --from=assets /src/node_modules/swagger-ui-dist/swagger-ui.css \
     /src/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
     /src/node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js \
     api/static/vendor/swagger-ui/
RUN pip install --no-cache-dir /app
ENV JEMBATAN_HOME=/data
VOLUME /data
EXPOSE 5000
# Make the node on first start (NODE_NAME, NODE_COUNTRY and, if set, NODE_ID from the
# environment; its store is JEMBATAN_STORE when set), then serve it.
CMD ["sh", "-c", "set -e; [ -f /data/node.json ] || jembatan init --dir /data --name \"${NODE_NAME:-Jembatan node}\" --country \"${NODE_COUNTRY:-CN}\" ${NODE_ID:+--node-id \"$NODE_ID\"}; exec jembatan serve --dir /data --host 0.0.0.0 --port 5000"]
