#include "report_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace lathe::cli {

namespace {

constexpr double kWidth = 920;
constexpr double kPanelHeight = 430;
constexpr double kTitleHeight = 44;
constexpr double kFootHeight = 34;
constexpr double kLeft = 86;
constexpr double kRight = 250;  // legend column
constexpr double kTop = 44;
constexpr double kBottom = 58;

// Colours that stay distinct for the colour-blind (Okabe-Ito), then a few more.
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000", "#999999"};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

std::string tick_label(double v) {
  char text[32];
  const double a = std::fabs(v);
  if (a >= 1e6) {
    std::snprintf(text, sizeof text, "%gM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(text, sizeof text, "%gk", v / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%g", v);
  }
  return text;
}

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double base = 10;
  std::vector<double> ticks;

  double unit(double v) const {  // 0..1 along the axis
    if (log) {
      const double l = std::log(std::max(v, 1e-300));
      return (l - std::log(lo)) / (std::log(hi) - std::log(lo));
    }
    return (v - lo) / (hi - lo);
  }
};

double nice_step(double range, int target) {
  const double raw = range / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

Axis make_x_axis(const std::vector<double>& xs) {
  Axis a;
  double lo = *std::min_element(xs.begin(), xs.end());
  double hi = *std::max_element(xs.begin(), xs.end());
  a.log = lo > 0 && hi / lo >= 4;
  if (a.log) {
    a.base = 2;
    a.lo = lo / std::sqrt(2.0);
    a.hi = hi * std::sqrt(2.0);
    std::set<double> distinct(xs.begin(), xs.end());
    if (distinct.size() <= 12) {
      a.ticks.assign(distinct.begin(), distinct.end());
    } else {
      for (double t = std::exp2(std::ceil(std::log2(a.lo))); t <= a.hi; t *= 2)
        a.ticks.push_back(t);
    }
    return a;
  }
  if (hi == lo) {
    lo -= 1;
    hi += 1;
  }
  const double pad = (hi - lo) * 0.08;
  a.lo = lo - pad;
  a.hi = hi + pad;
  if (lo >= 0 && a.lo < 0) a.lo = 0;
  const double step = nice_step(a.hi - a.lo, 6);
  for (double t = std::ceil(a.lo / step) * step; t <= a.hi + 1e-9 * step; t += step) {
    a.ticks.push_back(std::fabs(t) < 1e-12 * step ? 0 : t);
  }
  return a;
}

Axis make_y_axis(const std::vector<double>& ys) {
  Axis a;
  double lo = std::numeric_limits<double>::infinity();
  double hi = 0;
  for (double y : ys) {
    if (y > 0) lo = std::min(lo, y);
    hi = std::max(hi, y);
  }
  if (!(hi > 0)) hi = 1;
  if (!std::isfinite(lo)) lo = hi;
  a.log = hi / lo > 20;
  if (a.log) {
    a.lo = std::pow(10.0, std::floor(std::log10(lo / 1.2)));
    a.hi = std::pow(10.0, std::ceil(std::log10(hi * 1.2)));
    const int decades = static_cast<int>(std::lround(std::log10(a.hi / a.lo)));
    for (double d = a.lo; d <= a.hi * 1.0001; d *= 10) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (decades > 4 && m != 1.0) continue;
        if (d * m <= a.hi * 1.0001) a.ticks.push_back(d * m);
      }
    }
    return a;
  }
  a.lo = 0;
  const double step = nice_step(hi * 1.1, 6);
  a.hi = std::ceil(hi * 1.1 / step) * step;
  for (double t = 0; t <= a.hi + 1e-9 * step; t += step) a.ticks.push_back(t);
  return a;
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor,
          int size = 12, const char* extra = "") {
  out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + std::to_string(size) +
         "\" text-anchor=\"" + anchor + "\"" + extra + ">" + xml_escape(s) + "</text>\n";
}

void polyline(std::string& out, const std::vector<std::pair<double, double>>& pts,
              const char* color, bool dashed) {
  if (pts.empty()) return;
  out += "<polyline fill=\"none\" stroke=\"";
  out += color;
  out += dashed ? "\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\" points=\""
                : "\" stroke-width=\"2\" points=\"";
  for (const auto& [x, y] : pts) out += num(x) + "," + num(y) + " ";
  out += "\"/>\n";
}

void render_panel(std::string& out, const PlotPanel& panel, double top) {
  const double x0 = kLeft, x1 = kWidth - kRight;
  const double y0 = top + kTop, y1 = top + kPanelHeight - kBottom;
  text(out, (x0 + x1) / 2, top + 26, panel.title, "middle", 15, " font-weight=\"bold\"");

  std::vector<double> xs, ys;
  for (const PlotSeries& s : panel.series) {
    for (const PlotPoint& p : s.points) {
      xs.push_back(p.x);
      ys.push_back(p.y + p.y_err);
      if (p.y - p.y_err > 0) ys.push_back(p.y - p.y_err);
      ys.push_back(p.y);
    }
    for (const PlotPoint& p : s.ceiling) {
      xs.push_back(p.x);
      ys.push_back(p.y);
    }
  }
  if (xs.empty()) {
    text(out, (x0 + x1) / 2, (y0 + y1) / 2, "no data", "middle", 13);
    return;
  }
  const Axis ax = make_x_axis(xs);
  const Axis ay = make_y_axis(ys);
  auto px = [&](double v) { return x0 + ax.unit(v) * (x1 - x0); };
  auto py = [&](double v) { return y1 - ay.unit(v) * (y1 - y0); };

  // Frame, grid and ticks.
  out += "<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(x1 - x0) +
         "\" height=\"" + num(y1 - y0) + "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
  for (double t : ax.ticks) {
    const double x = px(t);
    if (x < x0 - 0.5 || x > x1 + 0.5) continue;
    out += "<line x1=\"" + num(x) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(y1) + "\" stroke=\"#e4e4e4\"/>\n";
    text(out, x, y1 + 17, tick_label(t), "middle", 11);
  }
  for (double t : ay.ticks) {
    const double y = py(t);
    if (y < y0 - 0.5 || y > y1 + 0.5) continue;
    out += "<line x1=\"" + num(x0) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x1) + "\" y2=\"" +
           num(y) + "\" stroke=\"#e4e4e4\"/>\n";
    text(out, x0 - 6, y + 4, tick_label(t), "end", 11);
  }
  text(out, (x0 + x1) / 2, y1 + 40, panel.x_label + (ax.log ? " (log scale)" : ""), "middle", 12);
  const std::string y_title = panel.y_label + (ay.log ? " (log scale)" : "");
  out += "<text x=\"" + num(kLeft - 58) + "\" y=\"" + num((y0 + y1) / 2) +
         "\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 " + num(kLeft - 58) +
         " " + num((y0 + y1) / 2) + ")\">" + xml_escape(y_title) + "</text>\n";

  // Lines: ceilings first so the measurements draw on top.
  for (size_t i = 0; i < panel.series.size(); ++i) {
    const PlotSeries& s = panel.series[i];
    const char* color = kPalette[i % std::size(kPalette)];
    std::vector<PlotPoint> ceiling = s.ceiling;
    std::sort(ceiling.begin(), ceiling.end(),
              [](const PlotPoint& a, const PlotPoint& b) { return a.x < b.x; });
    std::vector<std::pair<double, double>> pts;
    for (const PlotPoint& p : ceiling) pts.emplace_back(px(p.x), py(p.y));
    if (pts.size() == 1) {  // one x value: a short horizontal mark
      pts = {{pts[0].first - 14, pts[0].second}, {pts[0].first + 14, pts[0].second}};
    }
    polyline(out, pts, color, true);
  }
  for (size_t i = 0; i < panel.series.size(); ++i) {
    const PlotSeries& s = panel.series[i];
    const char* color = kPalette[i % std::size(kPalette)];
    std::vector<PlotPoint> points = s.points;
    std::sort(points.begin(), points.end(),
              [](const PlotPoint& a, const PlotPoint& b) { return a.x < b.x; });
    std::vector<std::pair<double, double>> pts;
    for (const PlotPoint& p : points) pts.emplace_back(px(p.x), py(p.y));
    polyline(out, pts, color, false);
    for (const PlotPoint& p : points) {
      if (p.y_err > 0) {
        const double lo = std::max(p.y - p.y_err, ay.log ? ay.lo : 0.0);
        out += "<line x1=\"" + num(px(p.x)) + "\" y1=\"" + num(py(lo)) + "\" x2=\"" + num(px(p.x)) +
               "\" y2=\"" + num(py(p.y + p.y_err)) + "\" stroke=\"" + color +
               "\" stroke-width=\"1.2\"/>\n";
      }
      out += "<circle cx=\"" + num(px(p.x)) + "\" cy=\"" + num(py(p.y)) + "\" r=\"3.5\" fill=\"" +
             color + "\"/>\n";
    }
  }

  // Legend.
  double ly = y0 + 8;
  const double lx = x1 + 16;
  text(out, lx, ly + 4, "solid: measured (mean ± sd)", "start", 11);
  ly += 16;
  text(out, lx, ly + 4, "dashed: roofline ceiling", "start", 11);
  ly += 24;
  for (size_t i = 0; i < panel.series.size(); ++i) {
    const PlotSeries& s = panel.series[i];
    const char* color = kPalette[i % std::size(kPalette)];
    polyline(out, {{lx, ly}, {lx + 22, ly}}, color, false);
    out += "<circle cx=\"" + num(lx + 11) + "\" cy=\"" + num(ly) + "\" r=\"3.5\" fill=\"" + color +
           "\"/>\n";
    std::string label = s.label;
    if (label.size() > 34) {
      size_t cut = 33;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label = label.substr(0, cut) + "…";  // cut on a character boundary
    }
    text(out, lx + 28, ly + 4, label, "start", 11);
    ly += 18;
    if (ly > y1) break;
  }
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters even escaped: drop them.
        if (c >= 0x20 || c == '\t' || c == '\n') out += static_cast<char>(c);
    }
  }
  return out;
}

std::string render_svg(const std::string& title, const std::vector<PlotPanel>& panels,
                       const std::string& footnote) {
  // The footnote wrapped at word boundaries: 10 px text fits about 150 characters per line.
  std::vector<std::string> foot_lines;
  for (const std::string& paragraph : split_lines(footnote)) {
    std::string line;
    size_t start = 0;
    while (start <= paragraph.size()) {
      size_t end = paragraph.find(' ', start);
      if (end == std::string::npos) end = paragraph.size();
      const std::string word = paragraph.substr(start, end - start);
      if (!line.empty() && line.size() + 1 + word.size() > 150) {
        foot_lines.push_back(line);
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
      start = end + 1;
    }
    if (!line.empty()) foot_lines.push_back(line);
  }
  const double foot_height = kFootHeight + 14.0 * (foot_lines.empty() ? 0 : foot_lines.size() - 1);
  const double height =
      kTitleHeight + kPanelHeight * static_cast<double>(panels.size()) + foot_height;
  std::string out;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n";
  text(out, kWidth / 2, 28, title, "middle", 17, " font-weight=\"bold\"");
  for (size_t i = 0; i < panels.size(); ++i) {
    render_panel(out, panels[i], kTitleHeight + kPanelHeight * static_cast<double>(i) - 10);
  }
  double y = height - foot_height + 22;
  for (const std::string& line : foot_lines) {
    text(out, 12, y, line, "start", 10, " fill=\"#555555\"");
    y += 14;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace lathe::cli
