#include "report.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace firerun::bench {
namespace json = boost::json;

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank: the smallest sample with at least p% of samples at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

Summary summarize(std::vector<double> samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.n = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 50);
  s.p90 = percentile(samples, 90);
  s.p99 = percentile(samples, 99);
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(s.n);
  return s;
}

const Measurement* Report::find(std::string_view id) const {
  for (const auto& m : measurements)
    if (m.id == id) return &m;
  return nullptr;
}

std::optional<double> statistic(const Summary& s, std::string_view name) {
  if (name == "min") return s.min;
  if (name == "p50") return s.p50;
  if (name == "p90") return s.p90;
  if (name == "p99") return s.p99;
  if (name == "max") return s.max;
  if (name == "mean") return s.mean;
  return std::nullopt;
}

std::optional<double> evaluate(const Report& report, const RatioSpec& spec) {
  const Measurement* num = report.find(spec.numerator);
  const Measurement* den = report.find(spec.denominator);
  if (!num || !den || num->samples.empty() || den->samples.empty()) return std::nullopt;
  auto n = statistic(summarize(num->samples), spec.statistic);
  auto d = statistic(summarize(den->samples), spec.statistic);
  if (!n || !d || *d == 0) return std::nullopt;
  return *n / *d;
}

namespace {

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

json::array to_array(const std::vector<double>& values) {
  json::array a;
  for (double v : values) a.push_back(round3(v));
  return a;
}

json::object summary_json(const Summary& s) {
  return {{"n", s.n},          {"min", round3(s.min)}, {"p50", round3(s.p50)}, {"p90", round3(s.p90)},
          {"p99", round3(s.p99)}, {"max", round3(s.max)}, {"mean", round3(s.mean)}};
}

}  // namespace

json::object to_json(const Report& report) {
  json::object doc;
  doc["schema"] = "firerun-bench/1";
  doc["config"] = report.config;
  doc["host"] = report.host;
  doc["vmm"] = report.vmm;
  doc["images"] = report.images;

  json::array measurements;
  for (const auto& m : report.measurements) {
    json::object row = summary_json(summarize(m.samples));
    row["id"] = m.id;
    row["title"] = m.title;
    row["unit"] = m.unit;
    row["samples"] = to_array(m.samples);
    measurements.push_back(std::move(row));
  }
  doc["measurements"] = std::move(measurements);

  json::array ratios;
  for (const auto& spec : report.ratio_specs) {
    auto value = evaluate(report, spec);
    if (!value) continue;  // a side was not measured: the ratio is absent, not zero
    json::object row{{"id", spec.id},
                     {"numerator", spec.numerator},
                     {"denominator", spec.denominator},
                     {"statistic", spec.statistic},
                     {"value", round3(*value)}};
    if (spec.target_max) {
      row["target_max"] = *spec.target_max;
      row["within_target"] = *value <= *spec.target_max;
    }
    ratios.push_back(std::move(row));
  }
  doc["ratios"] = std::move(ratios);

  json::array sweep;
  for (const auto& p : report.sweep) {
    sweep.push_back(json::object{{"concurrency", p.concurrency},
                                 {"wall_ms", round3(p.wall_ms)},
                                 {"vms_per_second", round3(p.vms_per_second)},
                                 {"boot_ms", summary_json(summarize(p.boot_ms))},
                                 {"pss_total_kib", p.pss_total_kib},
                                 {"pss_per_vm_kib", round3(p.pss_per_vm_kib)}});
  }
  doc["sweep"] = std::move(sweep);

  json::array skipped;
  for (const auto& s : report.skipped) skipped.push_back(json::object{{"id", s.id}, {"reason", s.reason}});
  doc["skipped"] = std::move(skipped);
  return doc;
}

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return "?";
  if (it->value().is_string()) return std::string(it->value().as_string());
  return json::serialize(it->value());
}

}  // namespace

void print_report(std::ostream& out, const Report& report) {
  out << "host: " << str(report.host, "cpu_model") << ", " << str(report.host, "cores") << " cores, "
      << str(report.host, "memory_mib") << " MiB\n"
      << "vmm:  " << str(report.vmm, "qemu_version") << ", machine " << str(report.vmm, "machine") << ", accel "
      << str(report.vmm, "accelerator") << "\n\n";

  char line[256];
  std::snprintf(line, sizeof line, "%-44s %4s %9s %9s %9s %9s %9s\n", "measurement", "n", "min", "p50", "p90",
                "p99", "max");
  out << line;
  for (const auto& m : report.measurements) {
    Summary s = summarize(m.samples);
    const char* f = m.unit == "ms" ? "%.1f" : "%.3f";
    std::snprintf(line, sizeof line, "%-44s %4zu %9s %9s %9s %9s %9s  %s\n", m.title.c_str(), s.n,
                  fmt(f, s.min).c_str(), fmt(f, s.p50).c_str(), fmt(f, s.p90).c_str(), fmt(f, s.p99).c_str(),
                  fmt(f, s.max).c_str(), m.unit.c_str());
    out << line;
  }

  bool any_ratio = false;
  for (const auto& spec : report.ratio_specs) {
    auto value = evaluate(report, spec);
    if (!value) continue;
    if (!any_ratio) out << "\nratios\n";
    any_ratio = true;
    std::string target = spec.target_max ? (*value <= *spec.target_max ? "  (target <= " : "  (MISSED target <= ") +
                                               fmt("%.2f", *spec.target_max) + ")"
                                         : "";
    std::snprintf(line, sizeof line, "  %-40s %7.3f  [%s of %s / %s]%s\n", spec.id.c_str(), *value,
                  spec.statistic.c_str(), spec.numerator.c_str(), spec.denominator.c_str(), target.c_str());
    out << line;
  }

  if (!report.sweep.empty()) {
    out << "\nconcurrency sweep\n";
    std::snprintf(line, sizeof line, "  %5s %10s %8s %13s %13s %14s\n", "VMs", "wall ms", "VMs/s", "boot p50 ms",
                  "boot max ms", "PSS/idle VM");
    out << line;
    for (const auto& p : report.sweep) {
      Summary b = summarize(p.boot_ms);
      std::snprintf(line, sizeof line, "  %5u %10.1f %8.3f %13.1f %13.1f %10.1f MiB\n", p.concurrency, p.wall_ms,
                    p.vms_per_second, b.p50, b.max, p.pss_per_vm_kib / 1024.0);
      out << line;
    }
  }
  for (const auto& s : report.skipped) out << "\nnot measured: " << s.id << ": " << s.reason << "\n";
}

}  // namespace firerun::bench
