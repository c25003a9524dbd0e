// `lathe batched-bench`: llama-batched-bench's measurement of many sequences decoded together.
//
// For each (PP, TG, B): B prompts of PP random tokens are decoded (one shared prompt with -pps),
// then TG steps each decode one token of every sequence at once. T_PP and T_TG are the two
// timings, S_* the token rates, exactly as tools/batched-bench computes them. lathe adds the
// generation speed-up over B = 1 (how much of the weight reads a batch amortizes) and the
// roofline ceiling min(B x bandwidth / bytes per step, compute peak / ops per token).
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "args.h"
#include "backend/backend.h"
#include "bench_commands.h"
#include "commands.h"
#include "core/cpu_features.h"
#include "core/timer.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "quantize_stream.h"
#include "report.h"
#include "report_plot.h"
#include "runtime/context.h"

namespace lathe::cli {

namespace {

using Json = nlohmann::ordered_json;

struct Params {
  std::string model;
  std::vector<int> n_pp = {128, 256, 512};
  std::vector<int> n_tg = {128, 256};
  std::vector<int> n_pl = {1, 2, 4, 8, 16, 32};
  int n_ctx = 4096;
  int n_batch = 2048;
  int n_ubatch = 512;
  int threads = 0;
  std::string flash_attn = "auto";
  std::string type_k = "f16";
  std::string type_v = "f16";
  int n_gpu_layers = 0;
  bool pp_shared = false;
  bool no_mmap = false;
  int reps = 1;
  std::string output = "md";
  std::string plot;
  std::string hw_profile;
  bool no_hw = false;
  bool quiet = false;
  int64_t seed = 42;
};

struct Row {
  int pp = 0, tg = 0, pl = 0, n_kv = 0;
  double t_pp = 0, t_tg = 0, t = 0;
  double speed_pp = 0, speed_tg = 0, speed = 0;
  double sd_tg = 0;            // over repetitions
  double speedup_tg = -1;      // S_TG / S_TG at B = 1; negative when B = 1 was not run
  double ceiling_tg = -1;      // roofline t/s; negative when unknown
  double ceiling_tg_now = -1;  // the same with the bandwidth measured around the TG runs
};

Status decode_chunks(runtime::Context& ctx, const std::vector<runtime::Batch>& chunks) {
  for (const runtime::Batch& b : chunks) LATHE_RETURN_IF_ERROR(ctx.decode(b));
  return Status();
}

Status check_list(const char* flag, const std::vector<int>& values, int lo, int hi) {
  if (values.empty()) return invalid_argument(flag, " needs at least one value");
  for (int v : values) {
    if (v < lo || v > hi)
      return invalid_argument(flag, " ", v, " is out of range (", lo, "..", hi, ")");
  }
  return Status();
}

Status validate(const Params& p) {
  if (p.model.empty()) return invalid_argument("give a model with -m FILE");
  LATHE_RETURN_IF_ERROR(check_list("-npp", p.n_pp, 1, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_list("-ntg", p.n_tg, 1, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_list("-npl", p.n_pl, 1, kv::kMaxSequences));
  if (p.n_ctx < 1) return invalid_argument("-c must be positive");
  if (p.n_batch < 1 || p.n_ubatch < 1) return invalid_argument("-b and -ub must be positive");
  if (p.reps < 1) return invalid_argument("-r must be at least 1");
  if (p.output != "md" && p.output != "json" && p.output != "jsonl") {
    return invalid_argument("-o expects md, json or jsonl, got '", p.output, "'");
  }
  return Status();
}

std::string plot_svg(const std::vector<Row>& rows, const std::string& label, const Roofs& roofs) {
  PlotPanel panel;
  panel.title = "generation of B sequences at once (S_TG)";
  panel.x_label = "sequences decoded together, B (-npl)";
  panel.y_label = "generated tokens/s, all sequences";
  std::map<std::pair<int, int>, size_t> index;
  for (const Row& r : rows) {
    auto [it, inserted] = index.emplace(std::make_pair(r.pp, r.tg), panel.series.size());
    if (inserted)
      panel.series.push_back({format("%s pp%d tg%d", label.c_str(), r.pp, r.tg), {}, {}});
    PlotSeries& s = panel.series[it->second];
    s.points.push_back({static_cast<double>(r.pl), r.speed_tg, r.sd_tg});
    if (r.ceiling_tg > 0) s.ceiling.push_back({static_cast<double>(r.pl), r.ceiling_tg, 0});
  }
  std::string foot = utc_now() + "  ";
  foot += roofs.profile
              ? "roofs from lathe hw (" + roofs.source +
                    ")\nceiling: min(B x bandwidth / bytes per step, peak / ops per token)"
              : "no roofline: " + roofs.note;
  return render_svg("lathe batched-bench: " + cpu_brand(), {panel}, foot);
}

int batched_main(Params& p) {
  auto type_k = kv::parse_kv_type(p.type_k);
  if (!type_k) return fail("batched-bench", "-ctk: " + type_k.error().message());
  auto type_v = kv::parse_kv_type(p.type_v);
  if (!type_v) return fail("batched-bench", "-ctv: " + type_v.error().message());
  auto fa = parse_on_off_auto(p.flash_attn);
  if (!fa) return fail("batched-bench", "-fa: " + fa.error().message());
  if (p.n_gpu_layers > 0 && !p.quiet) {
    std::fprintf(stderr,
                 "lathe batched-bench: note: -ngl %d: this build has no GPU backend, "
                 "running on the CPU\n",
                 p.n_gpu_layers);
  }
  const int threads = p.threads > 0 ? p.threads : default_thread_count();

  reset_peak_rss();
  model::LoadOptions load;
  load.mode = p.no_mmap ? FileLoadMode::kRead : FileLoadMode::kMmap;
  auto model = model::Model::load(p.model, load);
  if (!model) return fail("batched-bench", model.error().message());
  backend::BackendOptions bo;
  bo.n_threads = threads;
  auto backend_or = backend::create(backend::BackendKind::kCpu, bo);
  if (!backend_or) return fail("batched-bench", backend_or.error().message());
  std::shared_ptr<backend::Backend> backend = std::move(backend_or).value();
  runtime::ContextParams cp;
  cp.n_ctx = p.n_ctx;
  cp.n_ubatch = p.n_ubatch;
  cp.type_k = *type_k;
  cp.type_v = *type_v;
  cp.flash_attention = *fa != 0;
  auto ctx_or = runtime::Context::create(*model, backend, cp);
  if (!ctx_or) return fail("batched-bench", ctx_or.error().message());
  runtime::Context& ctx = **ctx_or;
  auto cost = token_cost(**model, *type_k, *type_v);
  if (!cost) return fail("batched-bench", cost.error().message());
  const Roofs roofs = load_roofs(p.no_hw, p.hw_profile, "batched-bench");
  if (!p.no_hw && !roofs.profile && !p.quiet) {
    std::fprintf(stderr, "lathe batched-bench: %s\n", roofs.note.c_str());
  }
  const double bw = roofs.bandwidth(threads);
  const double peak = roofs.peak(cost->peak_kind, threads);

  std::mt19937 rng(static_cast<uint32_t>(p.seed));
  const auto n_vocab = static_cast<uint32_t>((*model)->hparams().n_vocab);
  auto random_token = [&] { return static_cast<int32_t>(rng() % n_vocab); };

  // Warm-up, as llama-batched-bench: 16 tokens of one sequence. The last one asks for logits, so
  // that the output matrix is also read (and repacked) once before anything is timed.
  {
    runtime::Batch warm;
    const int n_warm = std::min(16, p.n_ctx);
    for (int i = 0; i < n_warm; ++i) warm.add(random_token(), i, {0}, i == n_warm - 1);
    Status status = ctx.decode(warm);
    if (!status.ok()) return fail("batched-bench", "warm-up: " + status.message());
  }

  const std::string label = model_type_label(**model);
  if (p.output == "md") {
    std::printf(
        "\nmain: model = %s (%s), n_kv_max = %d, n_batch = %d, n_ubatch = %d, flash_attn = "
        "%d, is_pp_shared = %d, is_tg_separate = 0, n_gpu_layers = %d, n_threads = %d, "
        "n_threads_batch = %d\n\n",
        p.model.c_str(), label.c_str(), p.n_ctx, p.n_batch, p.n_ubatch, *fa != 0, p.pp_shared,
        p.n_gpu_layers, threads, threads);
    std::printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s | %6s | %6s | %6s |\n",
                "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s",
                "TG x", "% roof", "% now");
    std::printf("|%6s-|-%6s-|-%4s-|-%6s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|-%6s-|-%6s-|-%6s-|\n",
                "------", "------", "----", "------", "--------", "--------", "--------",
                "--------", "--------", "--------", "------", "------", "------");
  } else if (p.output == "json") {
    std::printf("[\n");
  }
  std::fflush(stdout);

  ProgressLine progress("lathe batched-bench");
  progress.set_enabled(!p.quiet);
  std::vector<Row> rows;
  std::map<std::pair<int, int>, double> single_tg;  // S_TG at B = 1 by (pp, tg)
  bool first_json = true;
  for (int pp : p.n_pp) {
    for (int tg : p.n_tg) {
      for (int pl : p.n_pl) {
        const int n_ctx_req = p.pp_shared ? pp + pl * tg : pl * (pp + tg);
        if (n_ctx_req > p.n_ctx) {
          if (!p.quiet) {
            std::fprintf(stderr,
                         "lathe batched-bench: skipping PP %d, TG %d, B %d: it needs %d cells, "
                         "more than -c %d\n",
                         pp, tg, pl, n_ctx_req, p.n_ctx);
          }
          continue;
        }
        std::vector<double> t_pps, t_tgs, now_bws;
        for (int rep = 0; rep < p.reps; ++rep) {
          progress.update(format("PP %d, TG %d, B %d: run %d/%d", pp, tg, pl, rep + 1, p.reps),
                          true);
          // The prompt batch, split into -b sized decode calls, made before the clock starts.
          std::vector<runtime::Batch> chunks(1);
          for (int j = 0; j < (p.pp_shared ? 1 : pl); ++j) {
            for (int i = 0; i < pp; ++i) {
              if (static_cast<int>(chunks.back().size()) == p.n_batch) chunks.emplace_back();
              chunks.back().add(random_token(), i, {j}, i == pp - 1);
            }
          }
          ctx.kv().clear();
          const int64_t t0 = now_ns();
          Status status = decode_chunks(ctx, chunks);
          const int64_t t1 = now_ns();
          if (!status.ok()) return fail("batched-bench", "prompt: " + status.message());
          if (p.pp_shared) {
            // lathe's cells carry a set of sequences: sharing the prompt is a tag, no copy.
            for (int j = 1; j < pl; ++j) ctx.kv().seq_cp(0, j, -1, -1);
          }
          runtime::Batch step;
          step.reserve(static_cast<size_t>(pl));
          // The bandwidth of this moment, read around the TG runs and outside their timing.
          now_bws.push_back(weight_read_bandwidth(**model, *backend));
          const int64_t t2 = now_ns();
          for (int i = 0; i < tg; ++i) {
            step.clear();
            for (int j = 0; j < pl; ++j) step.add(random_token(), pp + i, {j}, true);
            status = ctx.decode(step);
            if (!status.ok()) return fail("batched-bench", "generation: " + status.message());
          }
          const int64_t t3 = now_ns();
          now_bws.push_back(weight_read_bandwidth(**model, *backend));
          t_pps.push_back(static_cast<double>(t1 - t0) * 1e-9);
          t_tgs.push_back(static_cast<double>(t3 - t2) * 1e-9);
        }
        progress.finish();
        Row r;
        r.pp = pp;
        r.tg = tg;
        r.pl = pl;
        r.n_kv = n_ctx_req;
        r.t_pp = mean(t_pps);
        r.t_tg = mean(t_tgs);
        r.t = r.t_pp + r.t_tg;
        r.speed_pp = (p.pp_shared ? pp : pl * pp) / r.t_pp;
        r.speed_tg = pl * tg / r.t_tg;
        r.speed = ((p.pp_shared ? pp : pl * pp) + pl * tg) / r.t;
        std::vector<double> s_tg;
        for (double t : t_tgs) s_tg.push_back(pl * tg / t);
        r.sd_tg = stddev(s_tg);
        if (pl == 1) single_tg[{pp, tg}] = r.speed_tg;
        if (auto it = single_tg.find({pp, tg}); it != single_tg.end()) {
          r.speedup_tg = r.speed_tg / it->second;
        }
        // One step reads the weights once for all B tokens, and each sequence's own cells.
        const double ctx_avg = pp + (tg + 1) / 2.0;
        const double step_bytes = cost->weight_bytes + pl * cost->kv_bytes_per_cell * ctx_avg;
        const double mem_roof = bw > 0 ? pl * bw / step_bytes : -1;
        const double compute_roof = peak > 0 ? peak / cost->step_ops(ctx_avg) : -1;
        r.ceiling_tg = mem_roof > 0 && compute_roof > 0 ? std::min(mem_roof, compute_roof)
                                                        : std::max(mem_roof, compute_roof);
        const double mem_roof_now = pl * mean(now_bws) / step_bytes;
        r.ceiling_tg_now = compute_roof > 0 ? std::min(mem_roof_now, compute_roof) : mem_roof_now;
        rows.push_back(r);

        if (p.output == "md") {
          std::printf(
              "|%6d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f | "
              "%6s | %6s | %6s |\n",
              pp, tg, pl, r.n_kv, r.t_pp, r.speed_pp, r.t_tg, r.speed_tg, r.t, r.speed,
              r.speedup_tg > 0 ? format("%.2f", r.speedup_tg).c_str() : "-",
              r.ceiling_tg > 0 ? format("%.1f", 100 * r.speed_tg / r.ceiling_tg).c_str() : "-",
              r.ceiling_tg_now > 0 ? format("%.1f", 100 * r.speed_tg / r.ceiling_tg_now).c_str()
                                   : "-");
        } else {
          Json j;
          j["model_filename"] = p.model;
          j["model_type"] = label;
          j["n_kv_max"] = p.n_ctx;
          j["n_batch"] = p.n_batch;
          j["n_ubatch"] = p.n_ubatch;
          j["flash_attn"] = *fa != 0 ? 1 : 0;
          j["is_pp_shared"] = p.pp_shared ? 1 : 0;
          j["n_gpu_layers"] = p.n_gpu_layers;
          j["n_threads"] = threads;
          j["n_threads_batch"] = threads;
          j["pp"] = pp;
          j["tg"] = tg;
          j["pl"] = pl;
          j["n_kv"] = r.n_kv;
          j["t_pp"] = r.t_pp;
          j["speed_pp"] = r.speed_pp;
          j["t_tg"] = r.t_tg;
          j["speed_tg"] = r.speed_tg;
          j["t"] = r.t;
          j["speed"] = r.speed;
          j["speedup_tg"] = r.speedup_tg > 0 ? Json(r.speedup_tg) : Json();
          j["ceiling_tg"] = r.ceiling_tg > 0 ? Json(r.ceiling_tg) : Json();
          j["roof_pct"] = r.ceiling_tg > 0 ? Json(100 * r.speed_tg / r.ceiling_tg) : Json();
          j["ceiling_tg_now"] = r.ceiling_tg_now > 0 ? Json(r.ceiling_tg_now) : Json();
          j["now_roof_pct"] =
              r.ceiling_tg_now > 0 ? Json(100 * r.speed_tg / r.ceiling_tg_now) : Json();
          j["peak_rss_bytes"] = peak_rss_bytes();
          if (p.output == "jsonl") {
            std::printf("%s\n", j.dump().c_str());
          } else {
            std::printf("%s  %s", first_json ? "" : ",\n", j.dump().c_str());
            first_json = false;
          }
        }
        std::fflush(stdout);
      }
    }
  }
  if (p.output == "json") std::printf("%s]\n", first_json ? "" : "\n");
  if (p.output == "md") {
    std::printf("\npeak RSS: %s\n", size_label(peak_rss_bytes()).c_str());
    if (roofs.profile) {
      std::printf(
          "TG x: S_TG over S_TG at B = 1. %% roof: S_TG over min(B x %.1f GB/s / bytes "
          "per step, %s peak / ops per token) from lathe hw (%s).\n",
          bw / 1e9, std::string(hw::peak_kind_name(cost->peak_kind)).c_str(), roofs.source.c_str());
    } else {
      std::printf("TG x: S_TG over S_TG at B = 1. roofs: %s\n", roofs.note.c_str());
    }
    std::printf(
        "%% now: the same roof with the bandwidth of read passes over the model's own weights "
        "timed right before and after each TG run (it moves with the host; lathe hw's does "
        "not).\n");
  }
  if (!p.plot.empty()) {
    Status written = write_text_file(p.plot, plot_svg(rows, label, roofs));
    if (!written.ok()) return fail("batched-bench", written.message());
    if (!p.quiet) std::fprintf(stderr, "lathe batched-bench: wrote %s\n", p.plot.c_str());
  }
  return 0;
}

}  // namespace

int run_batched_bench(int argc, char** argv) {
  Params p;
  bool jsonl = false;
  ArgParser args("batched-bench",
                 "Measures decoding B sequences at once, like llama-batched-bench: a prompt of "
                 "PP tokens per sequence (or one shared prompt with -pps), then TG steps of one "
                 "token per sequence. Adds the generation speed-up over B = 1 and the share of "
                 "the roofline ceiling reached.");
  args.option({"-m", "--model"}, "FILE", "model file (GGUF)", &p.model);
  args.list({"-npp"}, "N", "prompt lengths (default 128,256,512)", &p.n_pp);
  args.list({"-ntg"}, "N", "generated tokens per sequence (default 128,256)", &p.n_tg);
  args.list({"-npl"}, "B", "numbers of parallel sequences (default 1,2,4,8,16,32)", &p.n_pl);
  args.option({"-c", "--ctx-size"}, "N", "KV cache cells; larger cases are skipped (default 4096)",
              &p.n_ctx);
  args.option({"-b", "--batch-size"}, "N", "tokens per decode call (default 2048)", &p.n_batch);
  args.option({"-ub", "--ubatch-size"}, "N", "tokens per forward pass (default 512)", &p.n_ubatch);
  args.threads({"-t", "--threads"}, "threads (default 0)", &p.threads);
  args.option({"-fa", "--flash-attn"}, "on|off|auto", "fused attention (default auto = on)",
              &p.flash_attn);
  args.option({"-ctk", "--cache-type-k"}, "TYPE", "K cache type: f16, q8_0, q4_0", &p.type_k);
  args.option({"-ctv", "--cache-type-v"}, "TYPE", "V cache type", &p.type_v);
  args.option({"-ngl", "--n-gpu-layers"}, "N", "accepted for llama.cpp scripts (CPU only)",
              &p.n_gpu_layers);
  args.flag({"-pps"}, "one prompt shared by all sequences", &p.pp_shared);
  args.flag({"--no-mmap"}, "read the model into memory", &p.no_mmap);
  args.option({"-r", "--repetitions"}, "N", "runs per case, averaged (default 1)", &p.reps);
  args.option({"-o", "--output", "--output-format"}, "FORMAT", "md, json or jsonl (default md)",
              &p.output);
  args.flag({"-ojsonl"}, "same as -o jsonl", &jsonl);
  args.option({"--plot"}, "FILE.svg", "draw S_TG against B with the roofline ceiling", &p.plot);
  args.option({"--hw-profile"}, "FILE", "roofs from this `lathe hw -o json` profile",
              &p.hw_profile);
  args.flag({"--no-hw"}, "no roofline (do not measure the machine)", &p.no_hw);
  args.option({"--seed"}, "N", "seed of the random token ids (default 42)", &p.seed);
  args.flag({"-q", "--quiet"}, "no progress line on stderr", &p.quiet);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("batched-bench", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (jsonl) p.output = "jsonl";
  status = validate(p);
  if (!status.ok()) return fail("batched-bench", status.message());
  return batched_main(p);
}

}  // namespace lathe::cli
