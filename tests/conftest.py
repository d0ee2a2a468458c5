import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Regenerate golden files with NETDSL_REGEN=1.
REGEN = os.environ.get("NETDSL_REGEN") == "1"


@pytest.fixture
def root() -> Path:
    return ROOT
