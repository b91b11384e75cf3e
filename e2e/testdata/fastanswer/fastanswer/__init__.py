"""fastanswer: answer() comes from the C extension fastanswer._answer."""
import os

from ._answer import answer


def build_info():
    """What setup.py recorded about where it ran (see setup.py)."""
    with open(os.path.join(os.path.dirname(__file__), "_build_info.txt")) as f:
        return f.read()
