# A Jembatan node. Build context: the repository root.
FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir /app
ENV JEMBATAN_HOME=/data
VOLUME /data
EXPOSE 5000
# Make the node on first start (name/country from the environment), then serve it.
CMD ["sh", "-c", "[ -f /data/node.json ] || jembatan init --dir /data --name \"${NODE_NAME:-Jembatan node}\" --country \"${NODE_COUNTRY:-CN}\"; exec jembatan serve --dir /data --host 0.0.0.0 --port 5000"]
