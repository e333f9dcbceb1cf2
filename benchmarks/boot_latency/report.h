// The result model of firerun-bench: named measurements (samples of one
// quantity), ratios between two of them, the concurrency sweep, and what could
// not be measured and why. Rows that were not measured are absent, never zero.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::bench {

/// Order statistics of a sample set (nearest-rank percentiles).
struct Summary {
  std::size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

/// Summarises samples; an empty set gives n == 0 and zeros.
Summary summarize(std::vector<double> samples);
/// Nearest-rank percentile (p in (0,100]) of already sorted samples.
double percentile(const std::vector<double>& sorted, double p);

/// Samples of one quantity, e.g. "cold_boot_to_agent_ready" in ms.
struct Measurement {
  std::string id;     ///< stable JSON key
  std::string title;  ///< for the table
  std::string unit = "ms";
  std::vector<double> samples;
};

/// numerator ÷ denominator over one statistic of two measurements.
struct RatioSpec {
  std::string id;
  std::string numerator;               ///< Measurement id
  std::string denominator;             ///< Measurement id
  std::string statistic = "p50";       ///< "min" | "p50" | "p90" | "mean"
  std::optional<double> target_max;    ///< the goal, when there is one
};

/// One level of the concurrency sweep.
struct SweepPoint {
  unsigned concurrency = 0;              ///< VMs started at the same moment
  double wall_ms = 0;                    ///< first start() call until the last VM was agent-ready
  double vms_per_second = 0;             ///< concurrency / wall time
  std::vector<double> boot_ms;           ///< each VM's own start() latency
  std::uint64_t pss_total_kib = 0;       ///< sum of the QEMU processes' PSS while idle
  double pss_per_vm_kib = 0;             ///< pss_total_kib / concurrency
};

/// A row that could not be measured on this host, with the reason.
struct Skipped {
  std::string id;
  std::string reason;
};

/// Everything one run of firerun-bench produced.
struct Report {
  boost::json::object config;  ///< the options used
  boost::json::object host;    ///< machine facts
  boost::json::object vmm;     ///< backend, accelerator, QEMU version
  boost::json::object images;  ///< name -> {hash, kernel_release}
  std::vector<Measurement> measurements;
  std::vector<RatioSpec> ratio_specs;  ///< evaluated when both sides were measured
  std::vector<SweepPoint> sweep;
  std::vector<Skipped> skipped;

  /// The measurement with this id, or nullptr.
  const Measurement* find(std::string_view id) const;
};

/// Value of one statistic ("min", "p50", "p90", "p99", "max", "mean").
std::optional<double> statistic(const Summary& s, std::string_view name);
/// Evaluates a ratio; nullopt when a side is missing or the denominator is zero.
std::optional<double> evaluate(const Report& report, const RatioSpec& spec);

/// The JSON document written by --json (schema "firerun-bench/1", see docs/performance.md).
boost::json::object to_json(const Report& report);
/// Human-readable tables.
void print_report(std::ostream& out, const Report& report);

}  // namespace firerun::bench
