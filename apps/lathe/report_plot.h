// Hand-written SVG line charts for the benchmark reports: throughput against the swept parameter,
// one line per model, with the roofline ceiling each model can reach drawn dashed in its colour.
#pragma once

#include <string>
#include <vector>

namespace lathe::cli {

struct PlotPoint {
  double x = 0;
  double y = 0;
  double y_err = 0;  // standard deviation, drawn as an error bar when > 0
};

struct PlotSeries {
  std::string label;
  std::vector<PlotPoint> points;   // measured
  std::vector<PlotPoint> ceiling;  // the roofline's prediction; empty when unknown
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
};

// One SVG document with the panels stacked vertically. Axes pick their scale from the data: x is
// logarithmic (base 2) when it spans a factor of 4 or more, y when it spans more than 20. The
// footnote may hold line breaks and is wrapped at word boundaries.
std::string render_svg(const std::string& title, const std::vector<PlotPanel>& panels,
                       const std::string& footnote);

// Escapes text for SVG/XML character data and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace lathe::cli
