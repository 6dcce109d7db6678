from __future__ import annotations

import pytest

from .harness import Chain
from .world import World, make_world


@pytest.fixture
def chain() -> Chain:
    return Chain()


@pytest.fixture
def world() -> World:
    return make_world()
