"""gunicorn's settings for Jifen, read from the working directory by default
(``gunicorn -c gunicorn.conf.py 'app:create_app()'`` says so explicitly)."""

import gc


def post_worker_init(worker):
    """Freeze what loading the app left, so that the collector's full passes
    walk only what requests allocate since.

    Unfrozen, a worker's full collection walked the 160,000-odd objects of
    Flask, SQLAlchemy, marshmallow and Jifen's own modules, and stopped the
    worker for 100 to 200 ms under load (``bin/bench redeem``): the slowest of
    its requests. Frozen, the same pass takes under a millisecond.
    """
    gc.collect()
    gc.freeze()
