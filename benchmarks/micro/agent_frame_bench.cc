// Agent wire protocol: frame encode/decode against plain byte copies of the
// same frame, and typed exec-request decoding against bare JSON parsing.
#include "firerun/agent_protocol.h"

#include <benchmark/benchmark.h>
#include <boost/json/parse.hpp>

#include <cstring>

namespace {
using namespace firerun;
using namespace firerun::agent;

std::string payload_of(std::int64_t size) { return std::string(static_cast<std::size_t>(size), 'x'); }

void frame_encode_firerun(benchmark::State& state) {
  const std::string payload = payload_of(state.range(0));
  for (auto _ : state) {
    auto wire = encode_frame(MessageType::stdout_chunk, 7, payload);
    benchmark::DoNotOptimize(wire);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// Baseline: building header + payload by hand, the least an encoder can do.
void frame_encode_baseline(benchmark::State& state) {
  const std::string payload = payload_of(state.range(0));
  for (auto _ : state) {
    const char header[kHeaderSize] = {'F', 'R', static_cast<char>(kProtocolVersion),
                                      static_cast<char>(MessageType::stdout_chunk)};
    std::string wire;
    wire.reserve(kHeaderSize + payload.size());
    wire.append(header, kHeaderSize);
    wire.append(payload);
    benchmark::DoNotOptimize(wire);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void frame_decode_firerun(benchmark::State& state) {
  const std::string wire = encode_frame(MessageType::stdout_chunk, 7, payload_of(state.range(0))).value();
  FrameDecoder decoder;
  for (auto _ : state) {
    decoder.feed(wire);
    auto frame = decoder.next();
    if (!frame || !*frame) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(frame);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(wire.size()));
}

// Baseline: a plain memcpy of the same bytes into a reused buffer.
void frame_decode_baseline(benchmark::State& state) {
  const std::string wire = encode_frame(MessageType::stdout_chunk, 7, payload_of(state.range(0))).value();
  std::string buffer(wire.size(), '\0');
  for (auto _ : state) {
    std::memcpy(buffer.data(), wire.data(), wire.size());
    benchmark::DoNotOptimize(buffer.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(wire.size()));
}

std::string sample_exec_payload() {
  ExecRequest request;
  request.argv = {"python3", "-c", "import sys; print(sys.version)"};
  request.env = {{"HOME", "/root"}, {"LANG", "C.UTF-8"}, {"CI", "true"}};
  request.cwd = "/work";
  request.timeout = std::chrono::seconds(30);
  return encode_exec(request);
}

void exec_decode_firerun(benchmark::State& state) {
  const std::string payload = sample_exec_payload();
  for (auto _ : state) {
    auto decoded = decode_exec(payload);
    if (!decoded) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(decoded);
  }
}

// Baseline: parsing the same JSON without validating or converting it.
void exec_decode_baseline(benchmark::State& state) {
  const std::string payload = sample_exec_payload();
  for (auto _ : state) {
    auto value = boost::json::parse(payload);
    benchmark::DoNotOptimize(value);
  }
}

BENCHMARK(frame_encode_firerun)->Name("agent/frame_encode/firerun")->Arg(64)->Arg(4096)->Arg(65536);
BENCHMARK(frame_encode_baseline)->Name("agent/frame_encode/baseline")->Arg(64)->Arg(4096)->Arg(65536);
BENCHMARK(frame_decode_firerun)->Name("agent/frame_decode/firerun")->Arg(64)->Arg(4096)->Arg(65536);
BENCHMARK(frame_decode_baseline)->Name("agent/frame_decode/baseline")->Arg(64)->Arg(4096)->Arg(65536);
BENCHMARK(exec_decode_firerun)->Name("agent/exec_decode/firerun");
BENCHMARK(exec_decode_baseline)->Name("agent/exec_decode/baseline");

}  // namespace
