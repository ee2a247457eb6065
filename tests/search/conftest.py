import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # search_helpers: stand-in fitness functions for the engine
    sys.path.insert(0, str(HERE))
