// The layer graph is a claim the build cannot check: every layer has all of src/ on its include
// path, so a wrong-way #include compiles (and links, when the header is inline). This test reads
// the declared graph from src/CMakeLists.txt (LATHE_LAYER_DEPS) and every #include "layer/..." in
// src/, and fails on any edge the graph does not allow, directly or through the layers a layer
// depends on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/fixtures.h"

namespace lathe {
namespace {

namespace fs = std::filesystem;

using Graph = std::map<std::string, std::set<std::string>>;

fs::path source_root() {
  return fs::path(LATHE_TEST_SOURCE_DIR).parent_path();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "layer:dep,dep" entries of the set(LATHE_LAYER_DEPS ...) block.
Graph declared_graph(const std::string& cmake) {
  Graph graph;
  const size_t start = cmake.find("set(LATHE_LAYER_DEPS");
  if (start == std::string::npos) return graph;
  const size_t end = cmake.find(')', start);
  const std::string block = cmake.substr(start, end - start);
  const std::regex entry("\"([a-z_]+):([a-z_,]*)\"");
  for (auto it = std::sregex_iterator(block.begin(), block.end(), entry);
       it != std::sregex_iterator(); ++it) {
    std::set<std::string>& deps = graph[(*it)[1].str()];
    std::stringstream list((*it)[2].str());
    for (std::string dep; std::getline(list, dep, ',');) {
      if (!dep.empty()) deps.insert(dep);
    }
  }
  return graph;
}

// The layers `layer` may include: itself and everything it depends on, transitively.
std::set<std::string> allowed(const Graph& graph, const std::string& layer) {
  std::set<std::string> seen{layer};
  std::vector<std::string> todo{layer};
  while (!todo.empty()) {
    const std::string next = todo.back();
    todo.pop_back();
    const auto it = graph.find(next);
    if (it == graph.end()) continue;
    for (const std::string& dep : it->second) {
      if (seen.insert(dep).second) todo.push_back(dep);
    }
  }
  return seen;
}

struct Include {
  std::string file;  // relative to src/
  int line;
  std::string target_layer;
};

// Every #include "x/..." in `root`'s files whose first path component is a layer of `graph`.
std::map<std::string, std::vector<Include>> includes_by_layer(const fs::path& root,
                                                              const Graph& graph) {
  std::map<std::string, std::vector<Include>> out;
  const std::regex include_line("^\\s*#\\s*include\\s*\"([a-z_]+)/");
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh") continue;
    const std::string relative = fs::relative(entry.path(), root).string();
    const std::string layer = relative.substr(0, relative.find('/'));
    std::ifstream in(entry.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::smatch m;
      if (std::regex_search(line, m, include_line) && graph.count(m[1].str()) != 0) {
        out[layer].push_back({relative, n, m[1].str()});
      }
    }
  }
  return out;
}

std::vector<std::string> violations(const Graph& graph,
                                    const std::map<std::string, std::vector<Include>>& includes) {
  std::vector<std::string> bad;
  for (const auto& [layer, list] : includes) {
    if (graph.count(layer) == 0) {
      bad.push_back("src/" + layer + "/ is not a declared layer");
      continue;
    }
    const std::set<std::string> ok = allowed(graph, layer);
    for (const Include& inc : list) {
      if (ok.count(inc.target_layer) == 0) {
        bad.push_back("src/" + inc.file + ":" + std::to_string(inc.line) + ": layer " + layer +
                      " includes " + inc.target_layer + "/, which it does not depend on");
      }
    }
  }
  return bad;
}

TEST(Layering, GraphIsDeclared) {
  const Graph graph = declared_graph(read_text(source_root() / "src" / "CMakeLists.txt"));
  ASSERT_GE(graph.size(), 10u) << "could not read LATHE_LAYER_DEPS from src/CMakeLists.txt";
  // The edges this layering exists for.
  EXPECT_EQ(allowed(graph, "model").count("backend"), 0u) << "model must not reach backend";
  EXPECT_EQ(allowed(graph, "backend").count("model"), 0u) << "backend must not reach model";
  EXPECT_EQ(allowed(graph, "kernels").count("backend"), 0u) << "kernels must not reach backend";
  EXPECT_EQ(allowed(graph, "kernels").count("model"), 0u) << "kernels must not reach model";
  EXPECT_EQ(allowed(graph, "ops"), (std::set<std::string>{"ops", "core"}));
  for (const auto& [layer, deps] : graph) {
    EXPECT_EQ(allowed(graph, layer).count(layer), 1u);
    for (const std::string& dep : deps) {
      EXPECT_EQ(allowed(graph, dep).count(layer), 0u) << layer << " and " << dep << " form a cycle";
    }
  }
}

TEST(Layering, EveryIncludeFollowsTheGraph) {
  const Graph graph = declared_graph(read_text(source_root() / "src" / "CMakeLists.txt"));
  ASSERT_FALSE(graph.empty());
  const auto includes = includes_by_layer(source_root() / "src", graph);
  size_t total = 0;
  for (const auto& [layer, list] : includes) total += list.size();
  ASSERT_GT(total, 100u) << "found too few includes under src/ to believe the scan";
  const std::vector<std::string> bad = violations(graph, includes);
  std::string report;
  for (const std::string& b : bad) report += "\n  " + b;
  EXPECT_TRUE(bad.empty()) << bad.size() << " include(s) against the layer graph:" << report;
}

// The checker itself: a wrong-way include in a made-up tree must be caught.
TEST(Layering, CatchesAWrongWayInclude) {
  const std::string cmake = R"(set(LATHE_LAYER_DEPS
  "core:"
  "ops:core"
  "model:core,ops"
  "backend:core,ops"
))";
  const Graph graph = declared_graph(cmake);
  ASSERT_EQ(graph.size(), 4u);
  const std::string dir = testing::make_temp_dir("layering");
  fs::create_directories(fs::path(dir) / "model");
  fs::create_directories(fs::path(dir) / "backend");
  std::ofstream(fs::path(dir) / "model" / "ok.h")
      << "#include \"ops/rope.h\"\n#include \"core/status.h\"\n";
  std::ofstream(fs::path(dir) / "backend" / "bad.cpp")
      << "#include <vector>\n#include \"ops/weight.h\"\n  #  include \"model/model.h\"\n";
  const auto includes = includes_by_layer(dir, graph);
  const std::vector<std::string> bad = violations(graph, includes);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find("backend/bad.cpp:3"), std::string::npos) << bad[0];
  EXPECT_NE(bad[0].find("includes model/"), std::string::npos) << bad[0];
}

}  // namespace
}  // namespace lathe
