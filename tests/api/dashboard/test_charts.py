"""The dashboard's SVG charts: well-formed, escaped, and honest about missing data."""

from __future__ import annotations

from xml.etree import ElementTree

from bounceback.api.dashboard.charts import Series, bars, line_chart, sparkline


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # noqa: S314 - markup the test itself just made


def test_a_sparkline_spans_its_box_and_names_its_last_value() -> None:
    svg = sparkline([10.0, 50.0, 30.0], width=100, height=20)
    root = parse(svg)
    points = root.find("polyline")
    assert points is not None
    xs = [float(pair.split(",")[0]) for pair in points.attrib["points"].split()]
    assert xs[0] == 0 and xs[-1] == 100
    assert "last 30" in root.attrib["aria-label"]


def test_a_chart_without_points_says_so() -> None:
    assert "no data yet" in line_chart([Series("cpu", [])], title="CPU")


def test_labels_are_escaped() -> None:
    svg = line_chart([Series("<script>", [(0, 1), (1, 2)])], title="a & b")
    assert "<script>" not in svg
    parse(svg)  # still well-formed


def test_a_marker_sits_between_the_series_ends() -> None:
    svg = line_chart(
        [Series("before", [(0, 1), (10, 1)])], title="t", marker_x=5, marker_label="deploy"
    )
    assert "deploy" in svg
    parse(svg)


def test_bars_scale_to_the_largest_value() -> None:
    svg = bars([("succeeded", 8), ("failed", 2)], title="Attempts")
    root = parse(svg)
    widths = [float(rect.attrib["width"]) for rect in root.iter("rect")]
    assert widths[0] == 4 * widths[1]


def test_long_y_labels_get_room_on_the_left() -> None:
    svg = line_chart([Series("p95", [(0, 13.17), (1, 1234.5)])], title="latency", unit=" ms")
    frame = next(rect for rect in parse(svg).iter("rect") if rect.attrib.get("stroke"))
    assert float(frame.attrib["x"]) >= 6.5 * len("1234.5 ms")
