#include "ratio_reporter.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <cstdio>

namespace firerun::bench {

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const auto& run : runs) {
    // CPU time, not wall time: on a shared host, waiting for a core would
    // otherwise count against whichever side happened to be descheduled.
    // With --benchmark_repetitions the median aggregate stands for the pair;
    // otherwise the single iteration run does.
    bool usable = run.run_type == Run::RT_Iteration || run.aggregate_name == "median";
    if (!usable || run.error_occurred) continue;
    std::string name = run.run_name.str();
    std::string key;
    double* side = nullptr;
    for (const char* tag : {"/firerun", "/baseline"}) {
      std::string t = tag;
      auto pos = name.find(t);
      if (pos == std::string::npos || (pos + t.size() < name.size() && name[pos + t.size()] != '/')) continue;
      key = name.substr(0, pos) + name.substr(pos + t.size());
      side = t == "/firerun" ? &pairs_[key].firerun_ns : &pairs_[key].baseline_ns;
    }
    if (!side) continue;
    *side = run.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e9;
  }
}

std::vector<MicroRatio> RatioReporter::ratios() const {
  std::vector<MicroRatio> out;
  for (const auto& [key, sides] : pairs_)
    if (sides.firerun_ns >= 0 && sides.baseline_ns > 0) out.push_back({key, sides.firerun_ns, sides.baseline_ns});
  return out;
}

void RatioReporter::print_ratios(std::ostream& out) const {
  auto rows = ratios();
  if (rows.empty()) return;
  char line[256];
  std::snprintf(line, sizeof line, "\n%-44s %14s %14s %9s\n", "firerun vs in-run baseline", "firerun ns",
                "baseline ns", "ratio");
  out << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-44s %14.1f %14.1f %8.2fx\n", r.key.c_str(), r.firerun_ns, r.baseline_ns,
                  r.ratio());
    out << line;
  }
}

std::string RatioReporter::ratios_json() const {
  boost::json::array rows;
  for (const auto& r : ratios())
    rows.push_back(boost::json::object{
        {"key", r.key}, {"firerun_ns", r.firerun_ns}, {"baseline_ns", r.baseline_ns}, {"ratio", r.ratio()}});
  return boost::json::serialize(boost::json::object{{"schema", "firerun-micro-ratios/1"}, {"ratios", rows}});
}

}  // namespace firerun::bench
