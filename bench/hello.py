"""The hello-world Flask app the API's read throughput is compared with."""
from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello():
        return {"hello": "world"}

    return app
