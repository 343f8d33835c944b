"""`scratch_lab`: a lab of the test's own under tmp_path, named by its module's NAME (a letter
and the pid: no other lab of the session shares its network namespaces), removed even on
failure."""

from __future__ import annotations

import pytest

from toolkit.lab import Lab


@pytest.fixture
def scratch_lab(request, tmp_path):
    lab = Lab(request.module.NAME, root=str(tmp_path / "labs"))
    try:
        yield lab
    finally:
        lab.down()
