"""Test-wide settings. Hypothesis deadlines are off: they measure wall-clock time, which on a shared 2-core CI
machine says more about the load than about the code (performance is measured in `make bench`, not here)."""
from hypothesis import settings

settings.register_profile("systolica", deadline=None)
settings.load_profile("systolica")
