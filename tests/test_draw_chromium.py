"""The diagrams as a person sees them: SVG rendered by headless Chromium.

In the browser, with its real fonts: every line of text lies inside its box or frame header
(the text's bounding box against the rectangle netdsl computed), the drawing is not blank and
every box shows its fill where netdsl put it (pixels of the SVG drawn on a canvas). A screenshot
of each network is taken as well. Skipped when no Chromium is installed (`.ci/run` installs
Debian's `chromium`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from zoo import report

from netdsl.drawing import Drawing

NETS = ("resnet50", "googlenet", "densenet121")
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium installed")

PAGE = """<!doctype html><html><body style="margin:0;background:#fff">
<div id="svgs">%(svgs)s</div><pre id="result">pending</pre>
<script>
function geometry() {
  const out = {};
  document.querySelectorAll('#svgs svg').forEach(svg => {
    const name = svg.querySelector('title').textContent, bad = [];
    let boxes = 0;
    svg.querySelectorAll('g.box, g.frame').forEach(g => {
      const rects = g.querySelectorAll('rect');
      const r = g.classList.contains('box') ? rects[rects.length - 1] : rects[1];  // a frame: its header
      const x = +r.getAttribute('x'), y = +r.getAttribute('y'), w = +r.getAttribute('width'),
            h = +r.getAttribute('height');
      boxes++;
      g.querySelectorAll('text').forEach(t => {
        const b = t.getBBox();
        if (b.width === 0 || b.x < x - 0.5 || b.y < y - 0.5 || b.x + b.width > x + w + 0.5 ||
            b.y + b.height > y + h + 0.5)
          bad.push([t.textContent, [b.x, b.y, b.width, b.height], [x, y, w, h]]);
      });
    });
    out[name] = {boxes: boxes, bad: bad};
  });
  return out;
}
async function pixels(out) {
  for (const svg of document.querySelectorAll('#svgs svg')) {
    const name = svg.querySelector('title').textContent;
    const w = Math.ceil(+svg.getAttribute('width')), h = Math.ceil(+svg.getAttribute('height'));
    const img = new Image();
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg.outerHTML);
    await img.decode();
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, w, h).data;
    let ink = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240) ink++;
    let filled = 0, boxes = 0;
    svg.querySelectorAll('g.box').forEach(g => {
      const rects = g.querySelectorAll('rect'), r = rects[rects.length - 1];
      const px = Math.round(+r.getAttribute('x') + 3);
      const py = Math.round(+r.getAttribute('y') + +r.getAttribute('height') / 2);
      const p = ctx.getImageData(px, py, 1, 1).data, fill = r.getAttribute('fill');
      const want = [1, 3, 5].map(k => parseInt(fill.substr(k, 2), 16));
      boxes++;
      if (want.every((v, k) => Math.abs(v - p[k]) <= 6)) filled++;
    });
    Object.assign(out[name], {ink: ink / (w * h), filled: filled, sampled: boxes});
  }
  return out;
}
pixels(geometry()).then(r => { document.getElementById('result').textContent = JSON.stringify(r); },
                        e => { document.getElementById('result').textContent = 'error: ' + e; });
</script></body></html>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", *args], capture_output=True, text=True, timeout=90)


def test_text_sits_inside_boxes_and_the_drawing_is_not_blank(tmp_path):
    svgs = {name: Drawing(report(name), 2).svg() for name in NETS}
    page = tmp_path / "page.html"
    page.write_text(PAGE % {"svgs": "".join(svgs.values())}, encoding="utf-8")
    done = _chromium("--virtual-time-budget=20000", "--dump-dom", page.as_uri())
    m = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert m and m.group(1).startswith("{"), (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    for name in NETS:
        r = result[name]
        assert r["boxes"] > 10, (name, r)
        assert r["bad"] == [], (name, r["bad"][:5])
        assert 0.05 < r["ink"] < 0.7, (name, r["ink"])  # neither blank nor a smear
        assert r["filled"] == r["sampled"], (name, r)


@pytest.mark.parametrize("name", NETS[:1])
def test_screenshot(tmp_path, name):
    svg = Drawing(report(name), 2).svg()
    w, h = (int(float(v)) + 1 for v in re.search(r'width="([\d.]+)" height="([\d.]+)"', svg).groups())
    (tmp_path / f"{name}.svg").write_text(svg, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    _chromium(f"--screenshot={png}", f"--window-size={w},{h}", (tmp_path / f"{name}.svg").as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == w and int.from_bytes(data[20:24], "big") == h
    assert len(data) > 20_000  # a white page of this size compresses to a few KB
