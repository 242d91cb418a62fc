"""The status page's SVG charts (api/charts.py): valid SVG, one mark per point, scaled
into the plot, text escaped, usable without colour."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from omapifo.api.charts import HEIGHT, LEFT, RIGHT, TOP, WIDTH, Series, line_chart, thin

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def points(values: list[float]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=5 * i), v) for i, v in enumerate(values)]


def marks(svg: ET.Element) -> list[ET.Element]:
    return [e for e in svg.iter() if e.get("class") == "point"]


def test_every_point_is_a_mark_inside_the_plot() -> None:
    chart = line_chart([Series("primary", points([40, 30, 20])),
                        Series("secondary", points([40, 35, 0]))], title="pool: runway",
                       unit=" addresses")
    svg = ET.fromstring(str(chart))  # well-formed XML, so the browser parses it as SVG
    assert svg.tag == f"{SVG}svg" and svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    got = marks(svg)
    assert [(m.get("data-series"), m.get("data-value")) for m in got] == [
        ("primary", "40"), ("primary", "30"), ("primary", "20"),
        ("secondary", "40"), ("secondary", "35"), ("secondary", "0")]
    xs = [float(m.get("cx") or float(m.get("x")) + 3) for m in got]
    ys = [float(m.get("cy") or float(m.get("y")) + 3) for m in got]
    assert min(xs) == LEFT and max(xs) == WIDTH - RIGHT  # first and last scan at the edges
    assert min(ys) == TOP  # the largest value (40) at the top
    assert max(ys) == HEIGHT - 36  # zero on the x axis
    assert len(svg.findall(f"{SVG}polyline")) == 2
    # told apart without colour: a dashed second line, and both names in text
    assert svg.findall(f"{SVG}polyline")[1].get("stroke-dasharray")
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "primary" in texts and "secondary" in texts and "12:10:00 UTC" in texts
    assert got[0].find(f"{SVG}title").text == "primary 40 addresses at 12:00:00 UTC"


def test_a_fixed_scale_clamps_and_an_empty_chart_says_so() -> None:
    svg = ET.fromstring(str(line_chart([Series("use", points([50, 150]))], title="u",
                                       unit="%", y_max=100)))
    ys = [float(m.get("cy")) for m in marks(svg)]
    assert ys[1] == TOP and ys[0] == TOP + (HEIGHT - TOP - 36) / 2
    empty = ET.fromstring(str(line_chart([Series("use", [])], title="u")))
    assert not marks(empty) and "no scans yet" in [t.text for t in empty.iter(f"{SVG}text")]
    one = ET.fromstring(str(line_chart([Series("use", points([3]))], title="u")))
    assert len(marks(one)) == 1 and not one.findall(f"{SVG}polyline")


def test_names_are_escaped() -> None:
    chart = str(line_chart([Series('<script>"x"</script>', points([1, 2]))],
                           title="pool <b>&"))
    assert "<script>" not in chart and "<b>" not in chart
    ET.fromstring(chart)


def test_thinning_keeps_the_worst_of_each_slice() -> None:
    series = points([50.0] * 500)
    series[123] = (series[123][0], 3.0)  # one dip in a week of calm
    kept = thin(series, min, limit=20)
    assert len(kept) == 20 and (series[123] in kept)
    assert thin(series[:5], min, limit=20) == series[:5]  # few points stay as they are
    assert max(v for _, v in thin(points(list(range(100))), max, limit=10)) == 99
