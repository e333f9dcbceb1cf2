// QMP: typed parsing of server lines against bare JSON parsing of the same line.
#include "vm/qemu/qmp_message.h"

#include <benchmark/benchmark.h>
#include <boost/json/parse.hpp>

namespace {
using namespace firerun::qemu;

// What QEMU 7.2 actually sends: the greeting, a plain return, an event.
const char* const kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 19, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u7"}, "capabilities": ["oob"]}})";
const char* const kReturn = R"({"return": {"status": "running", "singlestep": false, "running": true}, "id": 12})";
const char* const kEvent =
    R"({"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}})";

void parse_firerun(benchmark::State& state, const char* text) {
  const std::string line = text;
  for (auto _ : state) {
    auto msg = parse_qmp_message(line);
    if (!msg) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(msg);
  }
}

void parse_baseline(benchmark::State& state, const char* text) {
  const std::string line = text;
  for (auto _ : state) {
    auto value = boost::json::parse(line);
    benchmark::DoNotOptimize(value);
  }
}

BENCHMARK_CAPTURE(parse_firerun, greeting, kGreeting)->Name("qmp/parse/firerun/greeting");
BENCHMARK_CAPTURE(parse_baseline, greeting, kGreeting)->Name("qmp/parse/baseline/greeting");
BENCHMARK_CAPTURE(parse_firerun, return, kReturn)->Name("qmp/parse/firerun/return");
BENCHMARK_CAPTURE(parse_baseline, return, kReturn)->Name("qmp/parse/baseline/return");
BENCHMARK_CAPTURE(parse_firerun, event, kEvent)->Name("qmp/parse/firerun/event");
BENCHMARK_CAPTURE(parse_baseline, event, kEvent)->Name("qmp/parse/baseline/event");

}  // namespace
