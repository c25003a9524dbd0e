// `lathe bench`: llama-bench's measurements, flags and output formats, plus where each result
// stands against the machine's roofs (`lathe hw`).
//
// What is measured matches llama-bench (tools/llama-bench/llama-bench.cpp): pp N decodes N random
// tokens (BOS first when the vocabulary adds one) in batches of -b, only the last token of each
// batch asking for logits; tg N decodes N single tokens one after another, each asking for
// logits, with no sampling; pp N+tg M does both in one timed run. -d D first fills the cache with
// D tokens (not timed). One warm-up run per test is excluded, then -r timed runs give mean ± sd.
//
// lathe's addition, -md DRAFT --draft N: a test "sdG (draft N)" per generation length G that
// generates G tokens greedily by speculative decoding and by the target alone, and reports the
// speed-up next to the one the acceptance rate and cost ratio predict (bench_spec.h).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "args.h"
#include "backend/backend.h"
#include "bench_commands.h"
#include "bench_spec.h"
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
  std::vector<std::string> models;
  std::vector<int> n_prompt = {512};
  std::vector<int> n_gen = {128};
  std::vector<std::pair<int, int>> n_pg;
  std::vector<int> n_depth = {0};
  std::vector<int> n_batch = {2048};
  std::vector<int> n_ubatch = {512};
  std::vector<std::string> type_k = {"f16"};
  std::vector<std::string> type_v = {"f16"};
  std::vector<std::string> flash_attn = {"auto"};
  std::vector<int> threads;
  std::vector<int> n_gpu_layers = {0};
  std::vector<int> mmap = {1};
  std::vector<std::string> drafts;  // -md: each adds sd tests
  std::vector<int> n_draft;         // --draft; {16} when -md is given without it
  std::vector<int> threads_draft;   // -td; empty: as -t
  int reps = 5;
  std::string output = "md";
  std::string plot;
  std::string hw_profile;
  bool no_hw = false;
  bool no_warmup = false;
  bool quiet = false;
  int64_t seed = 42;
};

// One test: a point of the cross product of the lists.
struct Instance {
  std::string model;
  bool mmap = true;
  int n_gpu_layers = 0;
  int n_batch = 2048;
  int n_ubatch = 512;
  TensorType type_k = TensorType::kF16;
  TensorType type_v = TensorType::kF16;
  bool flash_attn = true;
  int threads = 1;
  int n_depth = 0;
  int n_prompt = 0;
  int n_gen = 0;
  // An sd test: the draft model, the most tokens it drafts per pass, its threads.
  std::string draft;
  int n_draft = 0;
  int threads_draft = 0;

  std::string test_name() const {
    // sd keeps tg's number (the tokens generated) and names the draft length apart, so that
    // "sd128 (draft 8)" reads as tg128 done with 8-token drafts.
    std::string name = is_sd()                      ? format("sd%d (draft %d)", n_gen, n_draft)
                       : n_prompt > 0 && n_gen == 0 ? format("pp%d", n_prompt)
                       : n_gen > 0 && n_prompt == 0 ? format("tg%d", n_gen)
                                                    : format("pp%d+tg%d", n_prompt, n_gen);
    if (n_depth > 0) name += format(" @ d%d", n_depth);
    return name;
  }
  bool is_sd() const { return n_draft > 0; }
  bool is_pp() const { return n_prompt > 0 && n_gen == 0; }
  bool is_tg() const { return n_gen > 0 && n_prompt == 0 && !is_sd(); }
};

struct Result {
  Instance inst;
  std::string model_type;
  std::string weight_type;
  uint64_t model_size = 0;
  int64_t n_params = 0;
  std::string test_time;
  std::vector<double> samples_ns;
  std::vector<double> samples_ts;
  double avg_ts = 0, stddev_ts = 0, avg_ns = 0, stddev_ns = 0;
  // Roofline columns; negative when not applicable.
  double bytes_per_token = -1, effective_bw = -1, hw_bw = -1;
  double ops_per_token = -1, achieved_ops = -1, hw_peak = -1;
  hw::PeakKind peak_kind = hw::PeakKind::kInt8;
  double ceiling_ts = -1;
  // tg tests: the read bandwidth over the model's own weights, measured before and after each
  // run (its mean), and the runs' bandwidth as a % of the mean of the two passes around each.
  double now_bw = -1, now_pct = -1;
  uint64_t peak_rss = 0;
  // sd tests only.
  std::string draft_type;
  SpecBenchResult spec;
  double baseline_avg_ts = 0, baseline_stddev_ts = 0;
};

std::vector<Instance> make_instances(const Params& p, const std::vector<TensorType>& tk,
                                     const std::vector<TensorType>& tv,
                                     const std::vector<bool>& fa) {
  // llama-bench's nesting order, so results come out in the same order.
  std::vector<Instance> out;
  for (const std::string& m : p.models)
    for (int ngl : p.n_gpu_layers)
      for (int mm : p.mmap)
        for (int nb : p.n_batch)
          for (int nub : p.n_ubatch)
            for (TensorType k : tk)
              for (TensorType v : tv)
                for (bool f : fa)
                  for (int t : p.threads)
                    for (int d : p.n_depth) {
                      Instance base{m, mm != 0, ngl, nb, nub, k, v, f, t, d, 0, 0, {}, 0, 0};
                      for (int n : p.n_prompt) {
                        if (n == 0) continue;
                        Instance i = base;
                        i.n_prompt = n;
                        out.push_back(i);
                      }
                      for (int n : p.n_gen) {
                        if (n == 0) continue;
                        Instance i = base;
                        i.n_gen = n;
                        out.push_back(i);
                      }
                      for (const auto& [pp, tg] : p.n_pg) {
                        if (pp == 0 && tg == 0) continue;
                        Instance i = base;
                        i.n_prompt = pp;
                        i.n_gen = tg;
                        out.push_back(i);
                      }
                      // After the plain tests, so that tgN precedes its sd rows.
                      const std::vector<int> td =
                          p.threads_draft.empty() ? std::vector<int>{t} : p.threads_draft;
                      for (int n : p.n_gen)
                        for (const std::string& draft : p.drafts)
                          for (int nd : p.n_draft)
                            for (int dt : td) {
                              if (n == 0) continue;
                              Instance i = base;
                              i.n_gen = n;
                              i.draft = draft;
                              i.n_draft = nd;
                              i.threads_draft = dt;
                              out.push_back(i);
                            }
                    }
  return out;
}

// Loads models and backends lazily and keeps them while consecutive tests share them.
class Runner {
 public:
  Runner(const Params& params, const Roofs& roofs, ProgressLine& progress)
      : params_(params),
        roofs_(roofs),
        progress_(progress),
        rng_(static_cast<uint32_t>(params.seed)) {}

  Expected<Result> run(const Instance& inst, size_t index, size_t count);
  uint64_t model_peak_rss() const { return peak_rss_bytes(); }

 private:
  Status load(const Instance& inst);
  Status load_draft(const Instance& inst);
  Status run_sd(const Instance& inst, const std::string& where, Result& r);
  Status prompt(runtime::Context& ctx, int n, int n_batch, int32_t& pos);
  Status generate(runtime::Context& ctx, int n, int32_t& pos);
  int32_t random_token() {
    return static_cast<int32_t>(rng_() % static_cast<uint32_t>(model_->hparams().n_vocab));
  }

  const Params& params_;
  const Roofs& roofs_;
  ProgressLine& progress_;
  std::mt19937 rng_;
  std::shared_ptr<const model::Model> model_;
  std::string model_path_;
  bool model_mmap_ = true;
  int32_t bos_ = -1;
  bool add_bos_ = false;
  std::shared_ptr<backend::Backend> backend_;
  // The draft of sd tests, kept while consecutive tests share it; its backend when -td differs
  // from -t (equal counts share the target's: two pools on the same cores would spin against
  // each other).
  std::shared_ptr<const model::Model> draft_;
  std::string draft_path_;
  bool draft_mmap_ = true;
  std::shared_ptr<backend::Backend> draft_backend_;
};

Status Runner::load(const Instance& inst) {
  if (!model_ || model_path_ != inst.model || model_mmap_ != inst.mmap) {
    // The backend keeps per-model state (weights repacked for its kernels): a new model gets a
    // new backend, so neither the memory nor the cached layouts of the last one carry over.
    backend_.reset();
    model_.reset();
    reset_peak_rss();  // peak RSS is reported per model
    model::LoadOptions options;
    options.mode = inst.mmap ? FileLoadMode::kMmap : FileLoadMode::kRead;
    LATHE_ASSIGN_OR_RETURN(model_, model::Model::load(inst.model, options));
    model_path_ = inst.model;
    model_mmap_ = inst.mmap;
    const gguf::File& f = model_->file();
    auto bos_key = f.get_integer_or("tokenizer.ggml.bos_token_id", -1);
    const int64_t bos = bos_key ? *bos_key : -1;
    bos_ = bos >= 0 && bos < model_->hparams().n_vocab ? static_cast<int32_t>(bos) : -1;
    auto vocab_model = f.get_string_or("tokenizer.ggml.model", "");
    const bool spm = vocab_model && *vocab_model == "llama";
    auto add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", spm);
    add_bos_ = add_bos && *add_bos && bos_ >= 0;
  }
  if (!backend_ || backend_->n_threads() != inst.threads) {
    backend::BackendOptions options;
    options.n_threads = inst.threads;
    LATHE_ASSIGN_OR_RETURN(backend_, backend::create(backend::BackendKind::kCpu, options));
  }
  return Status();
}

Status Runner::load_draft(const Instance& inst) {
  if (!draft_ || draft_path_ != inst.draft || draft_mmap_ != inst.mmap) {
    draft_.reset();
    model::LoadOptions options;
    options.mode = inst.mmap ? FileLoadMode::kMmap : FileLoadMode::kRead;
    auto loaded = model::Model::load(inst.draft, options);
    if (!loaded) return loaded.error().with_context("draft");
    draft_ = std::move(loaded).value();
    draft_path_ = inst.draft;
    draft_mmap_ = inst.mmap;
  }
  if (inst.threads_draft != inst.threads &&
      (!draft_backend_ || draft_backend_->n_threads() != inst.threads_draft)) {
    backend::BackendOptions options;
    options.n_threads = inst.threads_draft;
    LATHE_ASSIGN_OR_RETURN(draft_backend_, backend::create(backend::BackendKind::kCpu, options));
  }
  return Status();
}

Status Runner::run_sd(const Instance& inst, const std::string& where, Result& r) {
  LATHE_RETURN_IF_ERROR(load_draft(inst));
  r.draft_type = model_type_label(*draft_);
  SpecBenchParams sp;
  // The start: BOS (a random token without one), then the depth as random tokens, as -d fills
  // the cache for the other tests.
  sp.prompt.push_back(add_bos_ ? bos_ : random_token());
  for (int i = 0; i < inst.n_depth; ++i) sp.prompt.push_back(random_token());
  sp.n_gen = inst.n_gen;
  sp.n_draft = inst.n_draft;
  sp.reps = params_.reps;
  sp.warmup = !params_.no_warmup;
  sp.context.n_ubatch = inst.n_ubatch;
  sp.context.type_k = inst.type_k;
  sp.context.type_v = inst.type_v;
  sp.context.flash_attention = inst.flash_attn;
  const auto& draft_backend = inst.threads_draft == inst.threads ? backend_ : draft_backend_;
  LATHE_ASSIGN_OR_RETURN(r.spec, run_spec_bench(model_, backend_, draft_, draft_backend, sp,
                                                [&](const std::string& phase) {
                                                  progress_.update(where + ": " + phase);
                                                }));
  for (size_t i = 0; i < r.spec.samples_ns.size(); ++i) {
    r.samples_ns.push_back(r.spec.samples_ns[i]);
    r.samples_ts.push_back(1e9 * inst.n_gen / r.spec.samples_ns[i]);
  }
  std::vector<double> baseline_ts;
  for (double ns : r.spec.baseline_samples_ns) baseline_ts.push_back(1e9 * inst.n_gen / ns);
  r.baseline_avg_ts = mean(baseline_ts);
  r.baseline_stddev_ts = stddev(baseline_ts);
  return Status();
}

// llama-bench's test_prompt: random tokens (BOS first), n_batch at a time, the last of each
// batch asking for logits.
Status Runner::prompt(runtime::Context& ctx, int n, int n_batch, int32_t& pos) {
  runtime::Batch batch;
  batch.reserve(static_cast<size_t>(std::min(n, n_batch)));
  for (int done = 0; done < n;) {
    const int k = std::min(n - done, n_batch);
    batch.clear();
    for (int i = 0; i < k; ++i) {
      const int32_t token = done == 0 && i == 0 && add_bos_ ? bos_ : random_token();
      batch.add(token, pos++, {0}, i == k - 1);
    }
    LATHE_RETURN_IF_ERROR(ctx.decode(batch));
    done += k;
  }
  return Status();
}

// llama-bench's test_gen: one token per decode, each asking for logits, no sampling.
Status Runner::generate(runtime::Context& ctx, int n, int32_t& pos) {
  runtime::Batch batch;
  int32_t token = add_bos_ ? bos_ : random_token();
  for (int i = 0; i < n; ++i) {
    batch.clear();
    batch.add(token, pos++, {0}, true);
    LATHE_RETURN_IF_ERROR(ctx.decode(batch));
    token = random_token();
  }
  return Status();
}

Expected<Result> Runner::run(const Instance& inst, size_t index, size_t count) {
  const std::string where = format("%zu/%zu %s", index + 1, count, inst.test_name().c_str());
  LATHE_RETURN_IF_ERROR(load(inst));
  // One forced line per test: off a terminal that is the whole progress report.
  progress_.update(
      format("%s (%s, %d threads)", where.c_str(), model_type_label(*model_).c_str(), inst.threads),
      true);
  Result r;
  r.inst = inst;
  r.model_type = model_type_label(*model_);
  r.weight_type = model_->weight_type_summary();
  r.model_size = model_->weight_bytes();
  r.n_params = model_->parameter_count();
  r.test_time = utc_now();
  if (inst.is_sd()) {
    // No roofline columns: a speculative token does not read the weights once.
    LATHE_RETURN_IF_ERROR(run_sd(inst, where, r));
    r.avg_ns = mean(r.samples_ns);
    r.stddev_ns = stddev(r.samples_ns);
    r.avg_ts = mean(r.samples_ts);
    r.stddev_ts = stddev(r.samples_ts);
    r.peak_rss = peak_rss_bytes();
    return r;
  }

  runtime::ContextParams cp;
  cp.n_ctx = inst.n_prompt + inst.n_gen + inst.n_depth;
  cp.n_ubatch = inst.n_ubatch;
  cp.type_k = inst.type_k;
  cp.type_v = inst.type_v;
  cp.flash_attention = inst.flash_attn;
  LATHE_ASSIGN_OR_RETURN(auto ctx, runtime::Context::create(model_, backend_, cp));

  int32_t pos = 0;
  if (!params_.no_warmup) {
    progress_.update(where + ": warm-up");
    if (inst.n_prompt > 0) LATHE_RETURN_IF_ERROR(prompt(*ctx, inst.n_prompt, inst.n_batch, pos));
    if (inst.n_gen > 0) LATHE_RETURN_IF_ERROR(generate(*ctx, 1, pos));
    ctx->kv().clear();
    pos = 0;
  }
  if (inst.n_depth > 0) {
    // The depth is filled once; each run then drops what the previous run appended.
    progress_.update(where + ": filling the cache to the depth");
    LATHE_RETURN_IF_ERROR(prompt(*ctx, inst.n_depth, inst.n_batch, pos));
  }
  // The host's bandwidth can move by tens of % within a minute (VMs, neighbours): tg runs are
  // bracketed by read passes over the same weights, outside the timed part.
  std::vector<double> now_bw;
  if (inst.is_tg()) now_bw.push_back(weight_read_bandwidth(*model_, *backend_));
  for (int rep = 0; rep < params_.reps; ++rep) {
    progress_.update(format("%s: run %d/%d", where.c_str(), rep + 1, params_.reps));
    if (inst.n_depth > 0) {
      ctx->kv().seq_rm(0, inst.n_depth, -1);
    } else {
      ctx->kv().clear();
    }
    pos = inst.n_depth;
    const int64_t start = now_ns();
    if (inst.n_prompt > 0) LATHE_RETURN_IF_ERROR(prompt(*ctx, inst.n_prompt, inst.n_batch, pos));
    if (inst.n_gen > 0) LATHE_RETURN_IF_ERROR(generate(*ctx, inst.n_gen, pos));
    const double ns = static_cast<double>(now_ns() - start);
    r.samples_ns.push_back(ns);
    r.samples_ts.push_back(1e9 * (inst.n_prompt + inst.n_gen) / ns);
    if (inst.is_tg()) now_bw.push_back(weight_read_bandwidth(*model_, *backend_));
  }
  r.avg_ns = mean(r.samples_ns);
  r.stddev_ns = stddev(r.samples_ns);
  r.avg_ts = mean(r.samples_ts);
  r.stddev_ts = stddev(r.samples_ts);
  r.peak_rss = peak_rss_bytes();

  LATHE_ASSIGN_OR_RETURN(const TokenCost cost, token_cost(*model_, inst.type_k, inst.type_v));
  r.peak_kind = cost.peak_kind;
  const double bw = roofs_.bandwidth(inst.threads);
  const double peak = roofs_.peak(cost.peak_kind, inst.threads, &r.peak_kind);
  if (inst.is_tg()) {
    // Cells attended to, averaged over the run: depth + 1 .. depth + n.
    const double ctx_avg = inst.n_depth + (inst.n_gen + 1) / 2.0;
    r.bytes_per_token = cost.step_bytes(ctx_avg);
    r.effective_bw = r.bytes_per_token * r.avg_ts;
    r.ops_per_token = cost.step_ops(ctx_avg);
    if (now_bw.size() == r.samples_ts.size() + 1) {
      std::vector<double> pct;
      for (size_t i = 0; i < r.samples_ts.size(); ++i) {
        pct.push_back(100.0 * r.bytes_per_token * r.samples_ts[i] /
                      (0.5 * (now_bw[i] + now_bw[i + 1])));
      }
      r.now_bw = mean(now_bw);
      r.now_pct = mean(pct);
    }
    if (bw > 0) r.hw_bw = bw;
    if (bw > 0 && peak > 0) {
      r.ceiling_ts = std::min(bw / r.bytes_per_token, peak / r.ops_per_token);
    } else if (bw > 0) {
      r.ceiling_ts = bw / r.bytes_per_token;
    }
  } else if (inst.is_pp()) {
    r.ops_per_token = cost.prompt_ops(inst.n_prompt, inst.n_depth, inst.n_batch) / inst.n_prompt;
    r.achieved_ops = r.ops_per_token * r.avg_ts;
    if (peak > 0) r.hw_peak = peak;
    // Weights are read once per micro-batch, so the memory roof rises with its size.
    const int ub = std::min({inst.n_ubatch, inst.n_batch, inst.n_prompt});
    const double bytes = cost.weight_bytes / ub +
                         cost.kv_bytes_per_cell * (inst.n_depth + (inst.n_prompt + 1) / 2.0);
    if (peak > 0 && bw > 0) {
      r.ceiling_ts = std::min(peak / r.ops_per_token, bw / bytes);
    } else if (peak > 0) {
      r.ceiling_ts = peak / r.ops_per_token;
    }
  }
  return r;
}

// ---- output ---------------------------------------------------------------------------------

std::string file_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string fmt_or_dash(double value, const char* fmt) {
  return value < 0 ? std::string("-") : format(fmt, value);
}

class Printer {
 public:
  Printer(const Params& p, std::string format) : format_(std::move(format)) {
    columns_ = {{"model", -30}, {"size", 10}, {"params", 10}, {"backend", -10}, {"threads", 7}};
    auto multi_or = [](const auto& list, const auto& deflt) {
      return list.size() > 1 || list != deflt;
    };
    show_ngl_ = multi_or(p.n_gpu_layers, std::vector<int>{0});
    show_b_ = multi_or(p.n_batch, std::vector<int>{2048});
    show_ub_ = multi_or(p.n_ubatch, std::vector<int>{512});
    show_tk_ = multi_or(p.type_k, std::vector<std::string>{"f16"});
    show_tv_ = multi_or(p.type_v, std::vector<std::string>{"f16"});
    show_fa_ = multi_or(p.flash_attn, std::vector<std::string>{"auto"});
    show_mmap_ = multi_or(p.mmap, std::vector<int>{1});
    if (show_ngl_) columns_.push_back({"ngl", 3});
    if (show_b_) columns_.push_back({"n_batch", 7});
    if (show_ub_) columns_.push_back({"n_ubatch", 8});
    if (show_tk_) columns_.push_back({"type_k", 6});
    if (show_tv_) columns_.push_back({"type_v", 6});
    if (show_fa_) columns_.push_back({"fa", 2});
    if (show_mmap_) columns_.push_back({"mmap", 4});
    show_sd_ = !p.drafts.empty();
    show_td_ = !p.threads_draft.empty();
    if (show_sd_) columns_.push_back({"draft", -24});
    if (show_td_) columns_.push_back({"td", 3});
    columns_.push_back({"test", 15});
    columns_.push_back({"t/s", 20});
    columns_.push_back({"GB/s", 7});
    columns_.push_back({"% bw", 5});
    show_now_ = std::any_of(p.n_gen.begin(), p.n_gen.end(), [](int n) { return n > 0; });
    if (show_now_) columns_.push_back({"% now", 5});
    columns_.push_back({"TOPS", 7});
    columns_.push_back({"% peak", 6});
    if (show_sd_) {
      columns_.push_back({"accept %", 8});
      columns_.push_back({"alpha", 5});
      columns_.push_back({"len", 5});
      columns_.push_back({"speed-up", 8});
      columns_.push_back({"expected", 8});
    }
  }

  void header() {
    if (format_ == "md") std::fputs(markdown_header(columns_).c_str(), stdout);
    if (format_ == "csv") {
      std::string line;
      const Json fields = record(Result{});  // named: items() must not outlive it
      for (const auto& [key, value] : fields.items()) {
        if (is_sample_list(key)) continue;
        line += (line.empty() ? "" : ",") + key;
      }
      std::printf("%s\n", line.c_str());
    }
    if (format_ == "json") std::printf("[\n");
    std::fflush(stdout);
  }

  void row(const Result& r) {
    if (format_ == "md") {
      std::vector<std::string> cells = {r.model_type, size_label(r.model_size),
                                        params_label(r.n_params), "CPU",
                                        std::to_string(r.inst.threads)};
      if (show_ngl_) cells.push_back(std::to_string(r.inst.n_gpu_layers));
      if (show_b_) cells.push_back(std::to_string(r.inst.n_batch));
      if (show_ub_) cells.push_back(std::to_string(r.inst.n_ubatch));
      if (show_tk_) cells.push_back(std::string(tensor_type_name(r.inst.type_k)));
      if (show_tv_) cells.push_back(std::string(tensor_type_name(r.inst.type_v)));
      if (show_fa_) cells.push_back(r.inst.flash_attn ? "1" : "0");
      if (show_mmap_) cells.push_back(r.inst.mmap ? "1" : "0");
      if (show_sd_) cells.push_back(r.inst.is_sd() ? file_name(r.inst.draft) : "-");
      if (show_td_) cells.push_back(r.inst.is_sd() ? std::to_string(r.inst.threads_draft) : "-");
      cells.push_back(r.inst.test_name());
      cells.push_back(format("%.2f ± %.2f", r.avg_ts, r.stddev_ts));
      cells.push_back(fmt_or_dash(r.effective_bw < 0 ? -1 : r.effective_bw / 1e9, "%.2f"));
      cells.push_back(r.hw_bw > 0 && r.effective_bw >= 0
                          ? format("%.1f", 100.0 * r.effective_bw / r.hw_bw)
                          : "-");
      if (show_now_) cells.push_back(fmt_or_dash(r.now_pct, "%.1f"));
      cells.push_back(fmt_or_dash(r.achieved_ops < 0 ? -1 : r.achieved_ops / 1e12, "%.4f"));
      cells.push_back(r.hw_peak > 0 && r.achieved_ops >= 0
                          ? format("%.1f", 100.0 * r.achieved_ops / r.hw_peak)
                          : "-");
      if (show_sd_ && r.inst.is_sd()) {
        const spec::SpecStats& s = r.spec.stats;
        cells.push_back(format("%.2f", 100.0 * s.acceptance()));
        cells.push_back(format("%.3f", s.alpha()));
        cells.push_back(format("%.2f", s.tokens_per_pass()));
        cells.push_back(format("%.2fx", speedup(r)));
        cells.push_back(format("%.2fx", r.spec.expected_speedup()));
      } else if (show_sd_) {
        cells.insert(cells.end(), 5, "-");
      }
      std::fputs(markdown_row(columns_, cells).c_str(), stdout);
    } else if (format_ == "csv") {
      std::string line;
      const Json fields = record(r);
      for (const auto& [key, value] : fields.items()) {
        if (is_sample_list(key)) continue;
        const std::string text = value.is_string() ? value.get<std::string>()
                                 : value.is_null() ? ""
                                                   : value.dump();
        line += (line.empty() ? "" : ",") + csv_escape(text);
      }
      std::printf("%s\n", line.c_str());
    } else if (format_ == "json") {
      std::string text = record(r).dump(2);
      // Indent the object inside the array, as llama-bench does.
      std::string indented = "  ";
      for (char c : text) {
        indented += c;
        if (c == '\n') indented += "  ";
      }
      std::printf("%s%s", first_ ? "" : ",\n", indented.c_str());
    } else {
      std::printf("%s\n", record(r).dump().c_str());
    }
    first_ = false;
    std::fflush(stdout);
  }

  void footer(const Roofs& roofs,
              const std::map<std::string, std::pair<std::string, uint64_t>>& rss,
              const std::vector<Result>& results) {
    if (format_ == "json") std::printf("%s]\n", first_ ? "" : "\n");
    if (format_ != "md") return;
    std::printf("\n");
    if (show_sd_) {
      std::printf(
          "sdN (draft K): N tokens generated greedily by speculative decoding, the draft guessing "
          "up to K per pass. t/s, speed-up: against greedy decoding by the target alone, measured "
          "in the same test from the same start (json: baseline_avg_ts); accept %%: accepted / "
          "drafted; alpha: accepted / tested; len: tokens per target pass; expected: (1 - "
          "alpha^(K'+1)) / ((1 - alpha)(1 + cK')) with c the draft/target cost of one decode and "
          "K' the tokens drafted per pass (json: draft_target_cost_ratio, verify_cost).\n");
      for (const Result& r : results) {
        if (r.inst.is_sd() && !r.spec.identical) {
          std::printf("note: %s with %s generated other tokens than the target alone\n",
                      r.inst.test_name().c_str(), file_name(r.inst.draft).c_str());
        }
      }
    }
    for (const auto& [path, entry] : rss) {
      std::printf("peak RSS: %s (%s): %s\n", entry.first.c_str(), path.c_str(),
                  size_label(entry.second).c_str());
    }
    if (roofs.profile) {
      std::printf("roofs: lathe hw profile %s, measured %s\n", roofs.source.c_str(),
                  roofs.profile->measured_at.c_str());
      std::printf(
          "GB/s: bytes read per token x t/s (weights + KV cache); %% bw of the read "
          "bandwidth at that thread count.\nTOPS: ops per token x t/s (2 per "
          "multiply-add, matmuls + attention); %% peak of the int8 (quantized), f32 or "
          "bf16 peak.\n");
    } else {
      std::printf("roofs: %s\n", roofs.note.c_str());
    }
    if (show_now_) {
      std::printf(
          "%% now (tg): GB/s over the bandwidth of a read pass over the model's own weights, timed "
          "right before and after each run; unlike lathe hw's figure it moves with the host.\n");
    }
    std::printf("cpu: %s\n", cpu_brand().c_str());
  }

  Json record(const Result& r) const {
    Json j;
    j["cpu_info"] = cpu_brand();
    j["backends"] = "CPU";
    j["model_filename"] = r.inst.model;
    j["model_type"] = r.model_type;
    j["model_size"] = r.model_size;
    j["model_n_params"] = r.n_params;
    j["n_batch"] = r.inst.n_batch;
    j["n_ubatch"] = r.inst.n_ubatch;
    j["n_threads"] = r.inst.threads;
    j["type_k"] = std::string(tensor_type_name(r.inst.type_k));
    j["type_v"] = std::string(tensor_type_name(r.inst.type_v));
    j["n_gpu_layers"] = r.inst.n_gpu_layers;
    j["flash_attn"] = r.inst.flash_attn ? 1 : 0;
    j["use_mmap"] = r.inst.mmap;
    j["n_prompt"] = r.inst.n_prompt;
    j["n_gen"] = r.inst.n_gen;
    j["n_depth"] = r.inst.n_depth;
    j["test"] = r.inst.test_name();
    j["test_time"] = r.test_time;
    j["avg_ns"] = static_cast<uint64_t>(r.avg_ns);
    j["stddev_ns"] = static_cast<uint64_t>(r.stddev_ns);
    j["avg_ts"] = r.avg_ts;
    j["stddev_ts"] = r.stddev_ts;
    j["weight_type"] = r.weight_type;
    auto opt = [](double v, double scale) { return v < 0 ? Json() : Json(v / scale); };
    j["bytes_per_token"] = opt(r.bytes_per_token, 1);
    j["effective_gb_per_s"] = opt(r.effective_bw, 1e9);
    j["hw_gb_per_s"] = opt(r.hw_bw, 1e9);
    j["bandwidth_pct"] =
        r.hw_bw > 0 && r.effective_bw >= 0 ? Json(100.0 * r.effective_bw / r.hw_bw) : Json();
    j["now_gb_per_s"] = opt(r.now_bw, 1e9);
    j["now_bandwidth_pct"] = opt(r.now_pct, 1);
    j["ops_per_token"] = opt(r.ops_per_token, 1);
    j["achieved_tops"] = opt(r.achieved_ops, 1e12);
    j["peak_kind"] = std::string(hw::peak_kind_name(r.peak_kind));
    j["hw_peak_tops"] = opt(r.hw_peak, 1e12);
    j["peak_pct"] =
        r.hw_peak > 0 && r.achieved_ops >= 0 ? Json(100.0 * r.achieved_ops / r.hw_peak) : Json();
    j["ceiling_ts"] = opt(r.ceiling_ts, 1);
    j["peak_rss_bytes"] = r.peak_rss;
    j["samples_ns"] = r.samples_ns;
    j["samples_ts"] = r.samples_ts;
    if (show_sd_) {
      const bool sd = r.inst.is_sd();
      const spec::SpecStats& s = r.spec.stats;
      auto sd_value = [sd](auto v) { return sd ? Json(v) : Json(); };
      j["draft_filename"] = sd_value(r.inst.draft);
      j["draft_type"] = sd_value(r.draft_type);
      j["n_draft"] = sd_value(r.inst.n_draft);
      j["n_threads_draft"] = sd_value(r.inst.threads_draft);
      j["accept_pct"] = sd_value(100.0 * s.acceptance());
      j["alpha"] = sd_value(s.alpha());
      j["mean_accepted_length"] = sd_value(s.tokens_per_pass());
      j["drafted_per_pass"] = sd_value(s.drafted_per_pass());
      j["n_passes"] = sd_value(s.n_passes);
      j["n_drafted"] = sd_value(s.n_drafted);
      j["n_accepted"] = sd_value(s.n_accepted);
      j["baseline_avg_ts"] = sd_value(r.baseline_avg_ts);
      j["baseline_stddev_ts"] = sd_value(r.baseline_stddev_ts);
      j["speedup"] = sd_value(speedup(r));
      j["expected_speedup"] = sd_value(r.spec.expected_speedup());
      j["draft_target_cost_ratio"] = sd_value(r.spec.cost_ratio());
      j["verify_cost"] = sd_value(r.spec.pass_cost());
      j["expected_speedup_at_verify_cost"] = sd_value(r.spec.expected_speedup_at_pass_cost());
      j["greedy_identical"] = sd_value(r.spec.identical);
      j["baseline_samples_ns"] = sd_value(r.spec.baseline_samples_ns);
    }
    return j;
  }

 private:
  static bool is_sample_list(const std::string& key) {
    return key == "samples_ns" || key == "samples_ts" || key == "baseline_samples_ns";
  }
  static double speedup(const Result& r) {
    return r.baseline_avg_ts > 0 ? r.avg_ts / r.baseline_avg_ts : 0.0;
  }

  std::string format_;
  std::vector<Column> columns_;
  bool show_ngl_ = false, show_b_ = false, show_ub_ = false, show_tk_ = false, show_tv_ = false,
       show_fa_ = false, show_mmap_ = false, show_sd_ = false, show_td_ = false, show_now_ = false;
  bool first_ = true;
};

// ---- plot -----------------------------------------------------------------------------------

std::string series_key(const Result& r, const Params& p, bool x_is_depth) {
  std::string key = r.model_type;
  if (p.models.size() > 1) {
    // Two files can share a label (same shape and type): tell them apart by file name.
    const size_t slash = r.inst.model.find_last_of('/');
    key += " [" + r.inst.model.substr(slash == std::string::npos ? 0 : slash + 1) + "]";
  }
  if (p.threads.size() > 1) key += format(" t=%d", r.inst.threads);
  if (p.n_batch.size() > 1) key += format(" b=%d", r.inst.n_batch);
  if (p.n_ubatch.size() > 1) key += format(" ub=%d", r.inst.n_ubatch);
  if (p.type_k.size() > 1 || p.type_v.size() > 1) {
    key += " kv=" + std::string(tensor_type_name(r.inst.type_k)) + "/" +
           std::string(tensor_type_name(r.inst.type_v));
  }
  if (p.flash_attn.size() > 1) key += r.inst.flash_attn ? " fa" : " no-fa";
  if (p.mmap.size() > 1) key += r.inst.mmap ? " mmap" : " no-mmap";
  if (!x_is_depth && p.n_depth.size() > 1) key += format(" d=%d", r.inst.n_depth);
  if (r.inst.is_sd()) {
    key += format(" draft %s N=%d", file_name(r.inst.draft).c_str(), r.inst.n_draft);
    if (p.threads_draft.size() > 1) key += format(" td=%d", r.inst.threads_draft);
  }
  return key;
}

std::string plot_svg(const std::vector<Result>& results, const Params& p, const Roofs& roofs) {
  std::vector<PlotPanel> panels;
  struct Kind {
    const char* title;
    bool (*match)(const Instance&);
    double (*x)(const Instance&);
    const char* x_label;
  };
  const Kind kinds[] = {
      {"prompt processing (pp)", [](const Instance& i) { return i.is_pp(); },
       [](const Instance& i) { return static_cast<double>(i.n_prompt); }, "prompt tokens (-p)"},
      {"generation (tg)", [](const Instance& i) { return i.is_tg(); },
       [](const Instance& i) { return static_cast<double>(i.n_gen); }, "generated tokens (-n)"},
      {"prompt + generation (pg)", [](const Instance& i) { return i.n_prompt > 0 && i.n_gen > 0; },
       [](const Instance& i) { return static_cast<double>(i.n_prompt + i.n_gen); },
       "prompt + generated tokens (-pg)"},
      {"speculative generation (sd)", [](const Instance& i) { return i.is_sd(); },
       [](const Instance& i) { return static_cast<double>(i.n_gen); }, "generated tokens (-n)"},
  };
  for (const Kind& kind : kinds) {
    std::vector<const Result*> rs;
    std::set<double> xs, depths;
    for (const Result& r : results) {
      if (!kind.match(r.inst)) continue;
      rs.push_back(&r);
      xs.insert(kind.x(r.inst));
      depths.insert(r.inst.n_depth);
    }
    if (rs.empty()) continue;
    // Sweeping only the depth: plot against it instead.
    const bool x_is_depth = xs.size() == 1 && depths.size() > 1;
    PlotPanel panel;
    panel.title = kind.title;
    panel.x_label = x_is_depth ? "tokens already in the cache (-d)" : kind.x_label;
    panel.y_label = "tokens/s";
    std::map<std::string, size_t> index;
    for (const Result* r : rs) {
      const std::string key = series_key(*r, p, x_is_depth);
      auto [it, inserted] = index.emplace(key, panel.series.size());
      if (inserted) panel.series.push_back({key, {}, {}});
      PlotSeries& s = panel.series[it->second];
      const double x = x_is_depth ? r->inst.n_depth : kind.x(r->inst);
      s.points.push_back({x, r->avg_ts, r->stddev_ts});
      if (r->ceiling_ts > 0) s.ceiling.push_back({x, r->ceiling_ts, 0});
    }
    panels.push_back(std::move(panel));
  }
  const std::string title = "lathe bench: " + cpu_brand();
  std::string foot = utc_now() + "  ";
  foot += roofs.profile ? "roofs from lathe hw (" + roofs.source +
                              ")\nceiling: tg = bandwidth / bytes per token; pp = min(peak / ops "
                              "per token, bandwidth x ubatch / bytes per token)"
                        : "no roofline: " + roofs.note;
  return render_svg(title, panels, foot);
}

Status parse_pg(std::string_view text, std::vector<std::pair<int, int>>* out) {
  const auto parts = split(text, ',');
  if (parts.size() != 2) return invalid_argument("expected PP,TG, got '", text, "'");
  LATHE_ASSIGN_OR_RETURN(int64_t pp, parse_int(parts[0]));
  LATHE_ASSIGN_OR_RETURN(int64_t tg, parse_int(parts[1]));
  if (pp < 0 || tg < 0 || pp > (1 << 24) || tg > (1 << 24)) {
    return invalid_argument("-pg values must be between 0 and 16M");
  }
  out->emplace_back(static_cast<int>(pp), static_cast<int>(tg));
  return Status();
}

Status check_range(const char* flag, const std::vector<int>& values, int lo, int hi) {
  if (values.empty()) return invalid_argument(flag, " needs at least one value");
  for (int v : values) {
    if (v < lo || v > hi)
      return invalid_argument(flag, " ", v, " is out of range (", lo, "..", hi, ")");
  }
  return Status();
}

Status validate(const Params& p) {
  if (p.models.empty()) return invalid_argument("give a model with -m FILE");
  LATHE_RETURN_IF_ERROR(check_range("-p", p.n_prompt, 0, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_range("-n", p.n_gen, 0, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_range("-d", p.n_depth, 0, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_range("-b", p.n_batch, 1, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_range("-ub", p.n_ubatch, 1, 1 << 24));
  LATHE_RETURN_IF_ERROR(check_range("-ngl", p.n_gpu_layers, -1, 1 << 20));
  LATHE_RETURN_IF_ERROR(check_range("-mmp", p.mmap, 0, 1));
  if (p.reps < 1) return invalid_argument("-r must be at least 1");
  if (p.output != "md" && p.output != "csv" && p.output != "json" && p.output != "jsonl") {
    return invalid_argument("-o expects md, csv, json or jsonl, got '", p.output, "'");
  }
  bool any = false;
  for (int n : p.n_prompt) any |= n > 0;
  for (int n : p.n_gen) any |= n > 0;
  for (const auto& [pp, tg] : p.n_pg) any |= pp > 0 || tg > 0;
  if (!any) return invalid_argument("nothing to run: every -p, -n and -pg is 0");
  if (p.drafts.empty()) {
    if (!p.n_draft.empty()) return invalid_argument("--draft needs a draft model (-md FILE)");
    if (!p.threads_draft.empty()) return invalid_argument("-td needs a draft model (-md FILE)");
  } else {
    LATHE_RETURN_IF_ERROR(check_range("--draft", p.n_draft, 1, 4096));
    bool any_gen = false;
    for (int n : p.n_gen) any_gen |= n > 0;
    if (!any_gen) return invalid_argument("-md needs a generation length: every -n is 0");
  }
  return Status();
}

}  // namespace

int run_bench(int argc, char** argv) {
  Params p;
  bool no_mmap = false;
  std::vector<std::string> fa_text;
  ArgParser args("bench",
                 "Measures prompt processing (pp) and generation (tg) speed like llama-bench, "
                 "and reports each result against this machine's roofs from `lathe hw`: "
                 "generation as effective bandwidth and % of the read bandwidth, prompt "
                 "processing as achieved TOPS and % of the peak. Every list flag takes "
                 "comma-separated values (or repeats), and every combination is run.");
  args.list({"-m", "--model"}, "FILES", "model files (GGUF)", &p.models);
  args.list({"-p", "--n-prompt"}, "N", "prompt lengths (default 512)", &p.n_prompt);
  args.list({"-n", "--n-gen"}, "N", "generation lengths (default 128)", &p.n_gen);
  args.option({"-pg"}, "PP,TG", "a prompt then generation test (repeatable)",
              [&p](std::string_view v) { return parse_pg(v, &p.n_pg); });
  args.list({"-d", "--n-depth"}, "N", "tokens already in the cache (default 0)", &p.n_depth);
  args.option({"-r", "--repetitions"}, "N", "timed runs per test (default 5)", &p.reps);
  args.threads_list({"-t", "--threads"}, "threads (default 0)", &p.threads);
  args.list({"-ngl", "--n-gpu-layers"}, "N",
            "layers on the GPU (accepted for llama-bench scripts; lathe bench runs on the CPU)",
            &p.n_gpu_layers);
  args.list({"-fa", "--flash-attn"}, "0|1|auto", "fused attention (default auto = on)", &fa_text);
  args.list({"-ctk", "--cache-type-k"}, "TYPE", "K cache type: f16, q8_0, q4_0 (default f16)",
            &p.type_k);
  args.list({"-ctv", "--cache-type-v"}, "TYPE", "V cache type (default f16)", &p.type_v);
  args.list({"-b", "--batch-size"}, "N", "tokens per decode call (default 2048)", &p.n_batch);
  args.list({"-ub", "--ubatch-size"}, "N", "tokens per forward pass (default 512)", &p.n_ubatch);
  args.list({"-mmp", "--mmap"}, "0|1", "map the model (1, default) or read it (0)", &p.mmap);
  args.list({"-md", "--model-draft"}, "FILES",
            "draft models (same vocabulary as -m): adds a test sdN (draft K) per -n and --draft, "
            "speculative greedy generation against the target alone",
            &p.drafts);
  args.list({"--draft", "--draft-max", "--draft-n"}, "N",
            "most tokens drafted per pass in sd tests (default 16)", &p.n_draft);
  args.threads_list({"-td", "--threads-draft"},
                    "draft threads in sd tests (default: as -t, sharing the target's thread pool)",
                    &p.threads_draft);
  args.flag({"--no-mmap"}, "read the model into memory (same as -mmp 0)", &no_mmap);
  args.option({"-o", "--output"}, "FORMAT", "md, csv, json or jsonl (default md)", &p.output);
  args.option({"--plot"}, "FILE.svg",
              "also draw t/s against the swept parameter, with the roofline", &p.plot);
  args.option({"--hw-profile"}, "FILE",
              "roofs from this `lathe hw -o json` profile instead of the cache", &p.hw_profile);
  args.flag({"--no-hw"}, "no roofline columns (do not measure the machine)", &p.no_hw);
  args.flag({"--no-warmup"}, "skip the warm-up run", &p.no_warmup);
  args.option({"--seed"}, "N", "seed of the random token ids (default 42)", &p.seed);
  args.flag({"-q", "--quiet"}, "no progress line on stderr", &p.quiet);
  bool progress_flag = false;  // llama-bench's opt-in; lathe shows progress unless -q
  args.flag({"--progress"}, "accepted for llama-bench scripts (progress is on unless -q)",
            &progress_flag);
  Status status = args.parse(argc, argv);
  if (!status.ok()) return fail("bench", status.message());
  if (args.help_requested()) {
    std::fputs(args.help().c_str(), stdout);
    return 0;
  }
  if (p.threads.empty()) p.threads = {default_thread_count()};
  if (no_mmap) p.mmap = {0};
  if (!fa_text.empty()) p.flash_attn = fa_text;
  if (!p.drafts.empty() && p.n_draft.empty()) p.n_draft = {16};  // llama-speculative's default
  status = validate(p);
  if (!status.ok()) return fail("bench", status.message());

  std::vector<TensorType> tk, tv;
  for (const auto& name : p.type_k) {
    auto t = kv::parse_kv_type(name);
    if (!t) return fail("bench", "-ctk: " + t.error().message());
    tk.push_back(*t);
  }
  for (const auto& name : p.type_v) {
    auto t = kv::parse_kv_type(name);
    if (!t) return fail("bench", "-ctv: " + t.error().message());
    tv.push_back(*t);
  }
  std::vector<bool> fa;
  for (const auto& text : p.flash_attn) {
    auto v = parse_on_off_auto(text);
    if (!v) return fail("bench", "-fa: " + v.error().message());
    fa.push_back(*v != 0);  // auto: lathe's default, on
  }
  for (int ngl : p.n_gpu_layers) {
    if (ngl > 0) {
      std::fprintf(stderr,
                   "lathe bench: note: -ngl %d: this build has no GPU backend, every test runs on "
                   "the CPU\n",
                   ngl);
      break;
    }
  }
  auto readable = [](const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return false;
    std::fclose(f);
    return true;
  };
  for (const auto& m : p.models) {
    if (!readable(m)) return fail("bench", "cannot open model '" + m + "'");
  }
  for (const auto& d : p.drafts) {
    if (!readable(d)) return fail("bench", "cannot open draft model '" + d + "'");
  }
  // Every pair before any test runs: a mismatch found after an hour of tests would waste it.
  for (const auto& m : p.models) {
    for (const auto& d : p.drafts) {
      Status same = check_draft_vocab(m, d);
      if (!same.ok()) return fail("bench", "-md " + d + " for " + m + ": " + same.message());
    }
  }

  const Roofs roofs = load_roofs(p.no_hw, p.hw_profile, "bench");
  if (!p.no_hw && !roofs.profile && !p.quiet) {
    std::fprintf(stderr, "lathe bench: %s\n", roofs.note.c_str());
  }
  const std::vector<Instance> instances = make_instances(p, tk, tv, fa);
  ProgressLine progress("lathe bench");
  progress.set_enabled(!p.quiet);
  Runner runner(p, roofs, progress);
  Printer printer(p, p.output);
  printer.header();
  std::vector<Result> results;
  std::map<std::string, std::pair<std::string, uint64_t>> rss;
  for (size_t i = 0; i < instances.size(); ++i) {
    auto result = runner.run(instances[i], i, instances.size());
    progress.finish();
    if (!result) {
      return fail("bench", cat(instances[i].model, ": ", instances[i].test_name(), ": ",
                               result.error().message()));
    }
    printer.row(*result);
    auto& entry = rss[result->inst.model];
    entry.first = result->model_type;
    entry.second = std::max(entry.second, result->peak_rss);
    results.push_back(std::move(*result));
  }
  printer.footer(roofs, rss, results);
  if (!p.plot.empty()) {
    Status written = write_text_file(p.plot, plot_svg(results, p, roofs));
    if (!written.ok()) return fail("bench", written.message());
    if (!p.quiet) std::fprintf(stderr, "lathe bench: wrote %s\n", p.plot.c_str());
  }
  return 0;
}

}  // namespace lathe::cli
