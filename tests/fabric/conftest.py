import sys
from pathlib import Path

# Plain pytest, no Django: make the repository root importable when the
# fabric tests are run on their own.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
