// Console reporter that also pairs each benchmark with its in-run baseline and
// prints firerun ÷ baseline. Pairing is by name: a benchmark whose name has a
// "firerun" segment is paired with the one whose name has "baseline" in that
// place, e.g. "agent/frame_decode/firerun/4096" with ".../baseline/4096".
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace firerun::bench {

/// One firerun ÷ baseline pair.
struct MicroRatio {
  std::string key;           ///< name without the firerun/baseline segment
  double firerun_ns = 0;     ///< CPU time per iteration
  double baseline_ns = 0;
  double ratio() const { return baseline_ns > 0 ? firerun_ns / baseline_ns : 0; }
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(OutputOptions options) : ConsoleReporter(options) {}
  void ReportRuns(const std::vector<Run>& runs) override;

  /// Pairs found so far (complete pairs only), sorted by key.
  std::vector<MicroRatio> ratios() const;
  /// The ratio table.
  void print_ratios(std::ostream& out) const;
  /// {"schema":"firerun-micro-ratios/1","ratios":[{key, firerun_ns, baseline_ns, ratio}]}.
  std::string ratios_json() const;

 private:
  struct Sides {
    double firerun_ns = -1;
    double baseline_ns = -1;
  };
  std::map<std::string, Sides> pairs_;
};

}  // namespace firerun::bench
