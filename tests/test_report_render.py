"""The HTML report as a browser shows it: Debian's chromium renders report.html headless into a screenshot that
must show the page (tables and the embedded plots), not a blank or broken one. Skipped where chromium is not
installed (`apt-get install chromium`)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.test_report import sweep  # noqa: F401  (the fixture: a fake sweep of 12 runs)
from vrft.report import build_report, find_runs, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLOT_COLOURS = {
    "blue": (31, 119, 180),
    "orange": (255, 127, 14),
}  # the first two groups' (matplotlib's tab10)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_html_report_renders_in_a_headless_browser(sweep, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    write_report(build_report(find_runs([sweep]), out), out)
    (out / "plots-moved").mkdir()
    for png in out.glob("*.png"):  # the page must stand alone: its plots are embedded, not read beside it
        png.rename(out / "plots-moved" / png.name)
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += [f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400", f"--screenshot={shot}"]
    subprocess.run([*cmd, (out / "report.html").as_uri()], capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    with Image.open(shot) as img:
        page = np.asarray(img.convert("RGB"), dtype=np.int32)
    assert page.shape == (2400, 1400, 3)
    drawn = (np.abs(page - 255).sum(axis=2) > 60).mean()
    assert drawn > 0.02, f"the page is nearly blank ({drawn:.1%} drawn)"
    for name, rgb in PLOT_COLOURS.items():  # only the plots draw in these colours (links are #0000ee)
        pixels = int((np.abs(page - np.array(rgb)).sum(axis=2) < 40).sum())
        assert pixels > 500, f"{pixels} pixels of the plots' {name}: the embedded plots did not render"
