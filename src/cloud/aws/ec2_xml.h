// EC2 XML responses parsed into typed results.
//
// Uses Boost.PropertyTree's XML reader (RapidXML based, header-only). It
// expands only the five predefined entities and character references: a DTD
// is skipped, never interpreted, so there is no XXE and no entity expansion.
// We still reject DOCTYPE/ENTITY declarations outright, cap the size and the
// nesting depth (the reader recurses), and turn every exception into an
// Errc::protocol value.
#pragma once

#include "cloud/aws/ec2_errors.h"
#include "firerun/error.h"

#include <boost/property_tree/ptree.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firerun::cloud::aws {

using XmlTree = boost::property_tree::ptree;

struct XmlLimits {
  std::size_t max_bytes = 16u << 20;
  std::size_t max_depth = 64;
};

/// Parses a document; malformed, truncated or hostile input is Errc::protocol naming `what`.
Result<XmlTree> parse_xml(std::string_view body, std::string_view what, const XmlLimits& limits = {});

/// The Response/Errors/Error envelope, or nullopt when `body` is not one.
std::optional<Ec2Error> parse_ec2_error_response(std::string_view body, long http_status);

struct Ec2Instance {
  std::string instance_id;
  std::string image_id;
  std::string instance_type;
  std::string state;  ///< "pending", "running", ... (instanceState/name)
  std::string availability_zone;
  std::string private_ip;
  std::string public_ip;
  std::string public_dns;
  std::string lifecycle;  ///< instanceLifecycle: "spot", or "" for on-demand
  std::string architecture;
  std::optional<std::chrono::system_clock::time_point> launch_time;
  std::map<std::string, std::string> tags;
};

struct Ec2Reservation {
  std::string reservation_id;
  std::string owner_id;
  std::vector<Ec2Instance> instances;
};

struct DescribeInstancesPage {
  std::vector<Ec2Reservation> reservations;
  std::string next_token;  ///< empty on the last page
};

struct InstanceStateChange {
  std::string instance_id;
  std::string previous_state;
  std::string current_state;
};

/// One pool a CreateFleet (instant) request could not fill.
struct FleetError {
  std::string instance_type;
  std::string availability_zone;
  std::string lifecycle;  ///< "spot" / "on-demand"
  std::string code;
  std::string message;
};

struct FleetInstances {
  std::string instance_type;
  std::string availability_zone;
  std::string lifecycle;
  std::vector<std::string> instance_ids;
};

struct CreateFleetResult {
  std::string fleet_id;
  std::vector<FleetInstances> instances;
  std::vector<FleetError> errors;
};

struct InstanceTypeInfo {
  std::string instance_type;
  std::uint32_t vcpus = 0;
  std::uint64_t memory_mib = 0;
  std::vector<std::string> architectures;  ///< "x86_64", "arm64", ...
  std::vector<std::string> usage_classes;  ///< "spot", "on-demand"
  bool current_generation = false;
};

struct DescribeInstanceTypesPage {
  std::vector<InstanceTypeInfo> instance_types;
  std::string next_token;
};

/// RunInstancesResponse (a Reservation).
Result<Ec2Reservation> parse_run_instances(std::string_view body);
/// DescribeInstancesResponse.
Result<DescribeInstancesPage> parse_describe_instances(std::string_view body);
/// TerminateInstancesResponse.
Result<std::vector<InstanceStateChange>> parse_terminate_instances(std::string_view body);
/// CreateTagsResponse (<return>true</return>); false is Errc::protocol.
Status parse_create_tags(std::string_view body);
/// CreateFleetResponse.
Result<CreateFleetResult> parse_create_fleet(std::string_view body);
/// DescribeInstanceTypesResponse.
Result<DescribeInstanceTypesPage> parse_describe_instance_types(std::string_view body);

/// The root element name of a response ("RunInstancesResponse"), for dispatch and tests.
Result<std::string> xml_root_name(std::string_view body);

}  // namespace firerun::cloud::aws
