"""flask-smorest's Blueprint, with each argument schema built once."""

import flask_smorest


class Blueprint(flask_smorest.Blueprint):
    """webargs builds a schema given as a class anew for every request; an
    instance, made here once per view, is reused (schemas keep no request state)."""

    def arguments(self, schema, *args, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
