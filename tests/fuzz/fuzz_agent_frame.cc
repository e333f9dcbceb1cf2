// Guest-agent protocol: the incremental frame decoder fed in arbitrary chunks,
// every payload decoder on each frame, and re-encode/decode round trips of
// whatever decodes successfully (what the agent and host client both parse).
#include "firerun/agent_protocol.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace firerun::agent;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void decode_payload(MessageType type, std::string_view p) {
  switch (type) {
    case MessageType::hello:
      if (auto h = decode_hello(p)) check(decode_hello(encode_hello(*h)).has_value());
      break;
    case MessageType::exec:
      if (auto e = decode_exec(p)) {
        auto request = e->request;
        if (e->has_stdin) request.stdin_data = "";
        auto again = decode_exec(encode_exec(request));
        check(again && again->request.argv == e->request.argv && again->request.env == e->request.env &&
              again->has_stdin == e->has_stdin);
      }
      break;
    case MessageType::exit:
      if (auto r = decode_exit(p)) check(decode_exit(encode_exit(*r)).has_value());
      break;
    case MessageType::write_file:
      if (auto w = decode_write_file(p)) {
        if (w->data.size() <= kMaxFileSlice) check(decode_write_file(*encode_write_file(*w)).has_value());
      }
      break;
    case MessageType::read_file:
      if (auto r = decode_read_file(p)) check(decode_read_file(encode_read_file(*r)).has_value());
      break;
    case MessageType::file_data:
      if (auto d = decode_file_data(p)) {
        if (d->data.size() <= kMaxFileSlice) check(decode_file_data(*encode_file_data(*d)).has_value());
      }
      break;
    case MessageType::reseed:
      if (auto r = decode_reseed(p)) {
        if (r->entropy.size() <= kMaxFileSlice) check(decode_reseed(*encode_reseed(*r)).has_value());
      }
      break;
    case MessageType::error:
      (void)decode_error(p);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t chunk = (data[0] % 17) + 1;  // vary how the stream is split
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  FrameDecoder decoder;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    decoder.feed(input.substr(at, chunk));
    for (;;) {
      auto next = decoder.next();
      if (!next) {
        check(decoder.buffered() == 0);
        break;
      }
      if (!*next) break;
      const Frame& f = **next;
      check(f.payload.size() <= kMaxPayload);
      auto again = encode_frame(f.type, f.request_id, f.payload);
      check(again && again->size() == kHeaderSize + f.payload.size());
      decode_payload(f.type, f.payload);
    }
  }
  // Every payload decoder also sees the raw input, so they are reached without a valid frame.
  for (int t = 1; t <= 13; ++t) decode_payload(static_cast<MessageType>(t), input);
  return 0;
}
