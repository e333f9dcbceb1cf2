#include "cloud/aws/ec2_xml.h"

#include "cloud/aws/credential_providers.h"

#include <boost/property_tree/xml_parser.hpp>

#include <charconv>
#include <sstream>
#include <vector>

namespace firerun::cloud::aws {
namespace {

namespace pt = boost::property_tree;

Error protocol_error(std::string_view what, std::string detail) {
  return make_error(Errc::protocol, "malformed EC2 " + std::string(what) + " response: " + std::move(detail));
}

// A structural pre-scan before the reader runs: the reader recurses per element (so bound the
// depth first) and, with Boost's flags, does not check that closing tags match their openers.
// Returns an error text, or "" when the element structure is sound.
std::string check_structure(std::string_view s, std::size_t max_depth) {
  std::vector<std::string_view> open;
  std::size_t i = 0;
  auto skip_past = [&](std::string_view end) {
    auto at = s.find(end, i);
    i = at == std::string_view::npos ? s.size() : at + end.size();
    return at != std::string_view::npos;
  };
  while ((i = s.find('<', i)) != std::string_view::npos) {
    auto rest = s.substr(i);
    if (rest.starts_with("<!--")) {
      if (!skip_past("-->")) return "unterminated comment";
    } else if (rest.starts_with("<![CDATA[")) {
      if (!skip_past("]]>")) return "unterminated CDATA section";
    } else if (rest.starts_with("<?")) {
      if (!skip_past("?>")) return "unterminated processing instruction";
    } else if (rest.starts_with("<!")) {
      if (!skip_past(">")) return "unterminated declaration";
    } else {
      const bool closing = rest.starts_with("</");
      std::size_t name_start = i + (closing ? 2 : 1), j = name_start;
      while (j < s.size() && s[j] != '>' && s[j] != '/' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') ++j;
      std::string_view name = s.substr(name_start, j - name_start);
      char quote = 0;
      for (; j < s.size(); ++j) {
        if (quote) {
          if (s[j] == quote) quote = 0;
        } else if (s[j] == '"' || s[j] == '\'') {
          quote = s[j];
        } else if (s[j] == '>') {
          break;
        }
      }
      if (j >= s.size()) return "unterminated tag";
      if (name.empty()) return "tag without a name";
      if (closing) {
        if (open.empty() || open.back() != name) return "closing tag does not match its opening tag";
        open.pop_back();
      } else if (s[j - 1] != '/') {
        open.push_back(name);
        if (open.size() > max_depth) return "elements nested deeper than " + std::to_string(max_depth);
      }
      i = j + 1;
    }
  }
  if (!open.empty()) return "document ends inside <" + std::string(open.back()) + "> (truncated?)";
  return {};
}

bool icontains(std::string_view haystack, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool eq = true;
    for (std::size_t j = 0; j < needle.size() && eq; ++j)
      eq = std::toupper(static_cast<unsigned char>(haystack[i + j])) == needle[j];
    if (eq) return true;
  }
  return false;
}

std::string text(const XmlTree& node, const char* path) { return node.get<std::string>(path, ""); }

// The children named `item` of a (possibly absent) set element.
template <class F>
void for_items(const XmlTree& node, const char* set, F&& f) {
  auto child = node.get_child_optional(set);
  if (!child) return;
  for (const auto& [name, item] : *child)
    if (name == "item") f(item);
}

template <class T>
Result<T> parse_number(const std::string& s, std::string_view what, const char* field) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return protocol_error(what, std::string(field) + " is not a number");
  return v;
}

Result<const XmlTree*> root(const XmlTree& doc, const char* name, std::string_view what) {
  auto r = doc.get_child_optional(name);
  if (!r) {
    std::string found = doc.empty() ? "nothing" : "<" + doc.begin()->first + ">";
    return protocol_error(what, std::string("expected <") + name + ">, found " + found);
  }
  return &*r;
}

Result<Ec2Instance> parse_instance(const XmlTree& item, std::string_view what) {
  Ec2Instance i;
  i.instance_id = text(item, "instanceId");
  if (i.instance_id.empty()) return protocol_error(what, "instance without instanceId");
  i.image_id = text(item, "imageId");
  i.instance_type = text(item, "instanceType");
  i.state = text(item, "instanceState.name");
  i.availability_zone = text(item, "placement.availabilityZone");
  i.private_ip = text(item, "privateIpAddress");
  i.public_ip = text(item, "ipAddress");
  i.public_dns = text(item, "dnsName");
  i.lifecycle = text(item, "instanceLifecycle");
  i.architecture = text(item, "architecture");
  auto launch = text(item, "launchTime");
  if (!launch.empty()) {
    auto t = parse_iso8601_utc(launch);
    if (!t) return protocol_error(what, "launchTime of " + i.instance_id + " is not an ISO 8601 UTC time");
    i.launch_time = *t;
  }
  for_items(item, "tagSet", [&](const XmlTree& tag) { i.tags[text(tag, "key")] = text(tag, "value"); });
  return i;
}

Result<Ec2Reservation> parse_reservation(const XmlTree& node, std::string_view what) {
  Ec2Reservation r;
  r.reservation_id = text(node, "reservationId");
  r.owner_id = text(node, "ownerId");
  std::optional<Error> failure;
  for_items(node, "instancesSet", [&](const XmlTree& item) {
    if (failure) return;
    auto inst = parse_instance(item, what);
    if (!inst) failure = inst.error();
    else r.instances.push_back(std::move(*inst));
  });
  if (failure) return *failure;
  return r;
}

}  // namespace

Result<XmlTree> parse_xml(std::string_view body, std::string_view what, const XmlLimits& limits) {
  if (body.size() > limits.max_bytes) return protocol_error(what, "response larger than " + std::to_string(limits.max_bytes) + " bytes");
  if (body.find('\0') != std::string_view::npos) return protocol_error(what, "NUL byte in XML");
  // EC2 never sends a DTD; refusing one rules out entity tricks whatever the reader does.
  if (icontains(body, "<!DOCTYPE") || icontains(body, "<!ENTITY"))
    return protocol_error(what, "DTDs and entity declarations are not accepted");
  if (auto problem = check_structure(body, limits.max_depth); !problem.empty()) return protocol_error(what, problem);
  XmlTree tree;
  try {
    std::istringstream in{std::string(body)};
    pt::read_xml(in, tree, pt::xml_parser::trim_whitespace | pt::xml_parser::no_comments);
  } catch (const pt::xml_parser_error& e) {
    return protocol_error(what, "line " + std::to_string(e.line()) + ": " + e.message());
  } catch (const std::exception& e) {
    return protocol_error(what, e.what());
  }
  // read_xml accepts an empty document; EC2 always sends one root element.
  std::size_t elements = 0;
  for (const auto& [name, child] : tree)
    if (name != "<xmlattr>" && name != "<xmlcomment>") ++elements;
  if (elements != 1) return protocol_error(what, "expected one root element, found " + std::to_string(elements));
  return tree;
}

Result<std::string> xml_root_name(std::string_view body) {
  FIRERUN_TRY(auto tree, parse_xml(body, "response"));
  for (const auto& [name, child] : tree)
    if (name != "<xmlattr>" && name != "<xmlcomment>") return name;
  return protocol_error("response", "no root element");
}

std::optional<Ec2Error> parse_ec2_error_response(std::string_view body, long http_status) {
  auto tree = parse_xml(body, "error");
  if (!tree) return std::nullopt;
  auto response = tree->get_child_optional("Response");
  if (!response) return std::nullopt;
  auto errors = response->get_child_optional("Errors");
  if (!errors) return std::nullopt;
  auto error = errors->get_child_optional("Error");
  if (!error) return std::nullopt;
  Ec2Error e;
  e.code = text(*error, "Code");
  e.message = text(*error, "Message");
  e.request_id = response->get<std::string>("RequestID", response->get<std::string>("RequestId", ""));
  e.http_status = http_status;
  e.kind = e.code.empty() && http_status >= 500 ? Ec2ErrorKind::server : classify_ec2_error(e.code);
  return e;
}

Result<Ec2Reservation> parse_run_instances(std::string_view body) {
  constexpr std::string_view what = "RunInstances";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "RunInstancesResponse", what));
  FIRERUN_TRY(auto reservation, parse_reservation(*node, what));
  if (reservation.instances.empty()) return protocol_error(what, "no instances in the reservation");
  return reservation;
}

Result<DescribeInstancesPage> parse_describe_instances(std::string_view body) {
  constexpr std::string_view what = "DescribeInstances";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "DescribeInstancesResponse", what));
  DescribeInstancesPage page;
  page.next_token = text(*node, "nextToken");
  std::optional<Error> failure;
  for_items(*node, "reservationSet", [&](const XmlTree& item) {
    if (failure) return;
    auto r = parse_reservation(item, what);
    if (!r) failure = r.error();
    else page.reservations.push_back(std::move(*r));
  });
  if (failure) return *failure;
  return page;
}

Result<std::vector<InstanceStateChange>> parse_terminate_instances(std::string_view body) {
  constexpr std::string_view what = "TerminateInstances";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "TerminateInstancesResponse", what));
  std::vector<InstanceStateChange> out;
  for_items(*node, "instancesSet", [&](const XmlTree& item) {
    out.push_back({text(item, "instanceId"), text(item, "previousState.name"), text(item, "currentState.name")});
  });
  for (const auto& c : out)
    if (c.instance_id.empty()) return protocol_error(what, "state change without instanceId");
  return out;
}

Status parse_create_tags(std::string_view body) {
  constexpr std::string_view what = "CreateTags";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "CreateTagsResponse", what));
  if (text(*node, "return") != "true") return protocol_error(what, "<return> is not true");
  return {};
}

Result<CreateFleetResult> parse_create_fleet(std::string_view body) {
  constexpr std::string_view what = "CreateFleet";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "CreateFleetResponse", what));
  CreateFleetResult r;
  r.fleet_id = text(*node, "fleetId");
  for_items(*node, "errorSet", [&](const XmlTree& item) {
    r.errors.push_back({text(item, "launchTemplateAndOverrides.overrides.instanceType"),
                        text(item, "launchTemplateAndOverrides.overrides.availabilityZone"), text(item, "lifecycle"),
                        text(item, "errorCode"), text(item, "errorMessage")});
  });
  for_items(*node, "fleetInstanceSet", [&](const XmlTree& item) {
    FleetInstances f;
    f.instance_type = text(item, "instanceType");
    if (f.instance_type.empty()) f.instance_type = text(item, "launchTemplateAndOverrides.overrides.instanceType");
    f.availability_zone = text(item, "launchTemplateAndOverrides.overrides.availabilityZone");
    if (f.availability_zone.empty()) f.availability_zone = text(item, "availabilityZone");
    f.lifecycle = text(item, "lifecycle");
    for_items(item, "instanceIds", [&](const XmlTree& id) { f.instance_ids.push_back(id.get_value<std::string>()); });
    r.instances.push_back(std::move(f));
  });
  return r;
}

Result<DescribeInstanceTypesPage> parse_describe_instance_types(std::string_view body) {
  constexpr std::string_view what = "DescribeInstanceTypes";
  FIRERUN_TRY(auto tree, parse_xml(body, what));
  FIRERUN_TRY(auto node, root(tree, "DescribeInstanceTypesResponse", what));
  DescribeInstanceTypesPage page;
  page.next_token = text(*node, "nextToken");
  std::optional<Error> failure;
  for_items(*node, "instanceTypeSet", [&](const XmlTree& item) {
    if (failure) return;
    InstanceTypeInfo info;
    info.instance_type = text(item, "instanceType");
    auto vcpus = parse_number<std::uint32_t>(text(item, "vCpuInfo.defaultVCpus"), what, "vCpuInfo.defaultVCpus");
    auto mem = parse_number<std::uint64_t>(text(item, "memoryInfo.sizeInMiB"), what, "memoryInfo.sizeInMiB");
    if (info.instance_type.empty()) failure = protocol_error(what, "instance type without a name");
    else if (!vcpus) failure = vcpus.error();
    else if (!mem) failure = mem.error();
    if (failure) return;
    info.vcpus = *vcpus;
    info.memory_mib = *mem;
    info.current_generation = text(item, "currentGeneration") == "true";
    for_items(item, "processorInfo.supportedArchitectures",
              [&](const XmlTree& a) { info.architectures.push_back(a.get_value<std::string>()); });
    for_items(item, "supportedUsageClasses",
              [&](const XmlTree& u) { info.usage_classes.push_back(u.get_value<std::string>()); });
    page.instance_types.push_back(std::move(info));
  });
  if (failure) return *failure;
  return page;
}

}  // namespace firerun::cloud::aws
