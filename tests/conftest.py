import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Regenerate golden files with NETDSL_REGEN=1.
REGEN = os.environ.get("NETDSL_REGEN") == "1"

# In a worker of the parallel run (pyproject's `-n 2`), torch computes on one thread: two workers
# with torch's default of one thread per core would have their OpenMP threads wait for each other.
# Set before any test module imports torch; a test that needs more threads sets them itself.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of small forwards (batch 2, 64x64, depthwise): with two on
    a shared 2-core machine the threads mostly wait for each other. Restored afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
