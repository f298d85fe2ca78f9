"""The framework's ceiling for a balance read: Flask answering the same JSON with no
database, sign-in or schema, served by gunicorn with Jifen's settings.

    gunicorn -c gunicorn.conf.py 'bench.plain:create_app()'
"""

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/api/v1/members/<int:member_id>/balance")
    def balance(member_id: int):
        return {
            "member_id": member_id,
            "points": 100,
            "value_fen": 200,
            "remainder_centipoints": 0,
            "points_per_yuan": 50,
        }

    return app
