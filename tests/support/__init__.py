"""What the test modules share, by capability: apps and their configuration, API and page
clients, problem assertions, QR decoding, the clock, the browser, concurrency, and the
worlds the fixtures build. Test modules import from here and never from one another.

pytest rewrites the ``assert`` statements of these modules as it does a test module's,
so a helper's failed assertion explains itself.
"""

import pkgutil

import pytest

pytest.register_assert_rewrite(
    *(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__))
)
