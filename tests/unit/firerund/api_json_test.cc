#include "api.h"
#include "api_json.h"
#include "firerun/text.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace firerun::daemon {
namespace {
namespace json = boost::json;

Limits limits() {
  Limits l;
  l.max_code_bytes = 100;
  l.max_timeout_ms = 5000;
  l.default_timeout_ms = 1000;
  l.max_memory_mb = 1024;
  l.max_vcpus = 2;
  l.max_output_bytes = 4096;
  return l;
}

TEST(ParseExecute, FullRequestRoundTripsThroughThePayload) {
  Limits l = limits();
  auto in = parse_execute(R"J({"lang":"python","code":"print(1)","stdin":"x","files":[{"name":"a.txt","content":"A"}],
                             "args":["1","2"],"env":{"K":"V"},"timeout_ms":2000,"memory_mb":512,"vcpus":2})J",
                          &l);
  ASSERT_TRUE(in) << in.error().what();
  EXPECT_EQ(in->request.language, "python");
  EXPECT_EQ(in->request.stdin_data, "x");
  EXPECT_EQ(in->request.files.at(0).name, "a.txt");
  EXPECT_EQ(in->request.args, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(in->request.env.at("K"), "V");
  EXPECT_EQ(in->request.timeout.count(), 2000);
  EXPECT_EQ(in->memory_mb, 512u);
  EXPECT_EQ(in->vcpus, 2u);
  EXPECT_EQ(in->request.output_cap, 4096u);
  auto again = parse_execute(payload_json(*in), nullptr);
  ASSERT_TRUE(again) << again.error().what();
  EXPECT_EQ(payload_json(*again), payload_json(*in));
}

TEST(ParseExecute, DefaultsApply) {
  Limits l = limits();
  auto in = parse_execute(R"J({"lang":"bash","code":"true"})J", &l);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->request.timeout.count(), 1000);
  EXPECT_FALSE(in->request.stdin_data.has_value());
  EXPECT_EQ(in->vcpus, 1u);
}

TEST(ParseExecute, BadInputIsRefusedWithTheFieldNamed) {
  Limits l = limits();
  struct Case {
    const char* body;
    const char* expect;
    Errc errc;
  } cases[] = {
      {"{", "malformed JSON", Errc::invalid_argument},
      {"[]", "must be an object", Errc::invalid_argument},
      {R"J({"code":"x"})J", "lang: is required", Errc::invalid_argument},
      {R"J({"lang":"bash"})J", "code: is required", Errc::invalid_argument},
      {R"J({"lang":1,"code":"x"})J", "lang: must be a string", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","timeout_ms":-5})J", "timeout_ms: must be a non-negative integer", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","timeout_ms":0})J", "timeout_ms: must be between 1 and 5000", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","timeout_ms":1e300})J", "timeout_ms", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","timeout_ms":99999999})J", "timeout_ms: must be between", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","memory_mb":4096})J", "memory_mb: must be at most 1024", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","vcpus":3})J", "vcpus: must be between 1 and 2", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","files":[{"name":1}]})J", "files", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","env":{"A":1}})J", "env", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"x","surprise":1})J", "surprise: unknown field", Errc::invalid_argument},
      {R"J({"lang":"bash","code":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})J",
       "the limit is 100", Errc::limit_exceeded},
      {R"J({"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":{"l":{"m":{"n":{"o":{"p":{"q":{}}}}}}}}}}}}}}}}}})J",
       "malformed JSON", Errc::invalid_argument},
  };
  for (const auto& c : cases) {
    auto r = parse_execute(c.body, &l);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().errc(), c.errc) << c.body;
    EXPECT_NE(r.error().what().find(c.expect), std::string::npos) << c.body << " -> " << r.error().what();
  }
}

TEST(ParsePiston, FirstFileIsTheProgramAndEncodingsDecode) {
  Limits l = limits();
  auto in = parse_piston_execute(R"J({"language":"py","version":"*","files":[{"name":"m.py","content":"cHJpbnQoMSk=","encoding":"base64"},
      {"name":"d.bin","content":"4142","encoding":"hex"},{"content":"plain"}],"stdin":"in","args":["a"],
      "run_timeout":3000,"compile_timeout":10000,"run_memory_limit":-1,"compile_memory_limit":-1})J",
                                 l);
  ASSERT_TRUE(in) << in.error().what();
  EXPECT_EQ(in->request.code, "print(1)");
  ASSERT_EQ(in->request.files.size(), 2u);
  EXPECT_EQ(in->request.files[0].content, "AB");
  EXPECT_EQ(in->request.files[1].content, "plain");
  EXPECT_FALSE(in->request.files[1].name.empty());
  EXPECT_EQ(in->request.timeout.count(), 3000);
  EXPECT_EQ(in->request.stdin_data, "in");
  EXPECT_FALSE(parse_piston_execute(R"J({"language":"py","files":[]})J", l));
  EXPECT_FALSE(parse_piston_execute(R"J({"language":"py","files":[{"content":"zz","encoding":"hex"}]})J", l));
  EXPECT_FALSE(parse_piston_execute(R"J({"language":"py","files":[{"content":"@@","encoding":"base64"}]})J", l));
  EXPECT_FALSE(parse_piston_execute(R"J({"language":"py","files":[{"content":"x","encoding":"rot13"}]})J", l));
}

TEST(PistonResult, MatchesPistonsShape) {
  sandbox::CodeResult r;
  r.language = "python";
  r.version = "3.11";
  r.exec.stdout_data = "out\n";
  r.exec.stderr_data = "err\n";
  r.exec.signal = 6;
  auto stored = execute_result_json("t1", r, false);
  auto v1 = json::parse(stored).as_object();
  EXPECT_EQ(v1.at("trace_id"), "t1");
  EXPECT_TRUE(v1.at("exit_code").is_null());
  EXPECT_EQ(v1.at("signal"), "SIGABRT");
  EXPECT_EQ(v1.at("phase"), "run");
  auto p = piston_result(stored, false);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->at("language"), "python");
  EXPECT_EQ(p->at("version"), "3.11");
  EXPECT_FALSE(p->contains("compile"));
  const auto& run = p->at("run").as_object();
  EXPECT_EQ(run.at("stdout"), "out\n");
  EXPECT_EQ(run.at("stderr"), "err\n");
  EXPECT_EQ(run.at("output"), "out\nerr\n");
  EXPECT_TRUE(run.at("code").is_null());
  EXPECT_EQ(run.at("signal"), "SIGABRT");
  auto compiled = piston_result(stored, true);
  ASSERT_TRUE(compiled);
  EXPECT_TRUE(compiled->contains("compile"));
}

TEST(HttpMapping, ErrcToStatusAndErrorBody) {
  EXPECT_EQ(http_status_for(Errc::invalid_argument), 400u);
  EXPECT_EQ(http_status_for(Errc::auth), 401u);
  EXPECT_EQ(http_status_for(Errc::not_found), 404u);
  EXPECT_EQ(http_status_for(Errc::limit_exceeded), 429u);
  EXPECT_EQ(http_status_for(Errc::unsupported), 501u);
  EXPECT_EQ(http_status_for(Errc::timeout), 504u);
  auto body = json::parse(error_json(Error(Errc::not_found, "no job x"))).as_object();
  EXPECT_EQ(body.at("error").at("code"), "not_found");
  EXPECT_EQ(body.at("error").at("message"), "no job x [not_found]");
}

TEST(ExecuteResult, OutputThatIsNotUtf8StaysValidJsonAndKeepsItsBytes) {
  sandbox::CodeResult r;
  r.language = "bash";
  r.exec.stdout_data = std::string("bin\x00\xff\xfe", 6) + "caf\xc3";  // binary, then a character cut by the cap
  r.exec.stderr_data = "ok";
  r.exec.exit_code = 0;
  for (bool base64 : {false, true}) {
    auto stored = execute_result_json("t", r, base64);
    boost::system::error_code ec;
    auto v = json::parse(stored, ec);  // Boost.JSON refuses invalid UTF-8
    ASSERT_FALSE(ec) << stored;
    const auto& o = v.as_object();
    EXPECT_EQ(std::string(o.at("stdout").as_string()),
              std::string("bin\x00", 4) + "\xef\xbf\xbd\xef\xbf\xbd" + "caf\xef\xbf\xbd");
    EXPECT_EQ(o.contains("stdout_base64"), base64);
    if (base64) {
      EXPECT_EQ(firerun::base64_decode(std::string(o.at("stdout_base64").as_string())).value(), r.exec.stdout_data);
      EXPECT_EQ(o.at("stderr_base64"), "b2s=");
    }
    auto piston = piston_result(stored, false);
    ASSERT_TRUE(piston);
    EXPECT_FALSE(json::serialize(*piston).empty());
  }
  auto in = parse_execute(R"({"lang":"bash","code":"x","output_encoding":"base64"})", nullptr);
  ASSERT_TRUE(in);
  EXPECT_TRUE(in->output_base64);
  EXPECT_TRUE(parse_execute(payload_json(*in), nullptr)->output_base64);
  EXPECT_EQ(parse_execute(R"({"lang":"bash","code":"x","output_encoding":"hex"})", nullptr).error(),
            Errc::invalid_argument);
}

}  // namespace
}  // namespace firerun::daemon
