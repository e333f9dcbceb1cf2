#include "firerun/ci.h"

#include <gtest/gtest.h>

namespace firerun::ci {
namespace {

LabelPolicy test_policy() {
  LabelPolicy p;
  p.defaults = VmShape{2, 4, 20, "ubuntu", "default"};
  p.limits.max_vcpus = 16;
  p.limits.max_memory_gib = 64;
  p.limits.max_disk_gib = 200;
  return p;
}

struct Good {
  std::vector<std::string> labels;
  VmShape shape;
};

TEST(Labels, ValidLabelsBecomeShapes) {
  const std::vector<Good> cases = {
      {{"firerun"}, {2, 4, 20, "ubuntu", "default"}},
      {{"FireRun"}, {2, 4, 20, "ubuntu", "default"}},
      {{"self-hosted", "linux", "firerun/cpu=4"}, {4, 4, 20, "ubuntu", "default"}},
      {{"firerun/cpu=4/ram=8/disk=20/image=ubuntu/pool=default"}, {4, 8, 20, "ubuntu", "default"}},
      {{"FIRERUN/CPU=8/RAM=16/Image=Debian-12"}, {8, 16, 20, "debian-12", "default"}},
      {{"firerun/disk=100/pool=gpu_a"}, {2, 4, 100, "ubuntu", "gpu_a"}},
      {{"firerun/cpu=1", "firerun/ram=1"}, {1, 1, 20, "ubuntu", "default"}},
      {{"firecracker-2cpu-4gb"}, {2, 4, 20, "ubuntu", "default"}},
      {{"firecracker-4cpu-16gb"}, {4, 16, 20, "ubuntu", "default"}},
      {{"Firecracker-16CPU-64GB"}, {16, 64, 20, "ubuntu", "default"}},
      {{"firecracker-4cpu-16gb", "firerun/disk=50/image=alpine"}, {4, 16, 50, "alpine", "default"}},
      {{"firerun", "firerun"}, {2, 4, 20, "ubuntu", "default"}},
      {{"firerun/cpu=16/ram=64/disk=200"}, {16, 64, 200, "ubuntu", "default"}},
  };
  for (const auto& c : cases) {
    auto r = shape_from_labels(c.labels, test_policy());
    ASSERT_TRUE(r) << c.labels.back() << ": " << r.error().what();
    ASSERT_TRUE(r->has_value()) << c.labels.back();
    EXPECT_EQ(**r, c.shape) << c.labels.back();
  }
}

TEST(Labels, JobsWithoutFirerunLabelsAreNotOurs) {
  const std::vector<std::vector<std::string>> cases = {
      {}, {"ubuntu-latest"}, {"self-hosted", "k8s"}, {"firerunner"}, {"firerun-4cpu"}, {"my-firerun/cpu=2"},
      {"firecracker"}, {""}, {"fire run"},
  };
  for (const auto& labels : cases) {
    auto r = shape_from_labels(labels, test_policy());
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_FALSE(r->has_value()) << (labels.empty() ? "(none)" : labels[0]);
  }
}

struct Bad {
  std::vector<std::string> labels;
  Errc code;
  std::string message_part;
};

TEST(Labels, HostileAndInvalidLabelsGetClearErrors) {
  const std::vector<Bad> cases = {
      {{"firerun/"}, Errc::invalid_argument, "empty key=value segment"},
      {{"firerun//cpu=2"}, Errc::invalid_argument, "empty key=value segment"},
      {{"firerun/cpu=2/"}, Errc::invalid_argument, "empty key=value segment"},
      {{"firerun/cpu"}, Errc::invalid_argument, "must be key=value"},
      {{"firerun/gpu=1"}, Errc::invalid_argument, "unknown key 'gpu'"},
      {{"firerun/=4"}, Errc::invalid_argument, "unknown key ''"},
      {{"firerun/cpu=2/cpu=4"}, Errc::invalid_argument, "key 'cpu' is already set"},
      {{"firerun/CPU=2", "firerun/cpu=4"}, Errc::invalid_argument, "key 'cpu' is already set"},
      {{"firecracker-2cpu-4gb", "firerun/ram=8"}, Errc::invalid_argument, "key 'ram' is already set"},
      {{"firerun/cpu=0"}, Errc::invalid_argument, "cpu must be at least 1"},
      {{"firerun/ram=000"}, Errc::invalid_argument, "ram must be at least 1"},
      {{"firerun/cpu=-2"}, Errc::invalid_argument, "positive whole number"},
      {{"firerun/cpu=+2"}, Errc::invalid_argument, "positive whole number"},
      {{"firerun/cpu=2.5"}, Errc::invalid_argument, "positive whole number"},
      {{"firerun/cpu= 2"}, Errc::invalid_argument, "positive whole number"},
      {{"firerun/cpu=0x10"}, Errc::invalid_argument, "positive whole number"},
      {{"firerun/cpu="}, Errc::invalid_argument, "cpu needs a value"},
      {{"firerun/cpu=04"}, Errc::invalid_argument, "leading zeros"},
      {{"firerun/cpu=99999999999999999999999"}, Errc::invalid_argument, "not a plausible size"},
      {{"firerun/cpu=4294967297"}, Errc::invalid_argument, "not a plausible size"},
      {{"firerun/ram=100000"}, Errc::invalid_argument, "not a plausible size"},
      {{"firerun/cpu=64"}, Errc::limit_exceeded, "asks for 64 vCPUs, hosts offer at most 16"},
      {{"firecracker-4cpu-128gb"}, Errc::limit_exceeded, "asks for 128 GiB of RAM, hosts offer at most 64 GiB"},
      {{"firerun/disk=500"}, Errc::limit_exceeded, "asks for 500 GiB of disk, hosts offer at most 200 GiB"},
      {{"firerun/image="}, Errc::invalid_argument, "image name"},
      {{"firerun/image=../etc"}, Errc::invalid_argument, "segment 'etc' must be key=value"},
      {{"firerun/image=.."}, Errc::invalid_argument, "image name"},
      {{"firerun/image=-rf"}, Errc::invalid_argument, "image name"},
      {{"firerun/image=a b"}, Errc::invalid_argument, "image name"},
      {{"firerun/pool=" + std::string(64, 'a')}, Errc::invalid_argument, "pool name"},
      {{"firerun/image=ubuntu=22"}, Errc::invalid_argument, "image name"},
      {{"firecracker-"}, Errc::invalid_argument, "expected firecracker-<N>cpu-<M>gb"},
      {{"firecracker-2cpu"}, Errc::invalid_argument, "expected firecracker-<N>cpu-<M>gb"},
      {{"firecracker-cpu-gb"}, Errc::invalid_argument, "expected firecracker-<N>cpu-<M>gb"},
      {{"firecracker-2cpu-gb"}, Errc::invalid_argument, "expected firecracker-<N>cpu-<M>gb"},
      {{"firecracker-xcpu-4gb"}, Errc::invalid_argument, "positive whole number"},
      {{"firecracker-2cpu-4gib"}, Errc::invalid_argument, "expected firecracker-<N>cpu-<M>gb"},
      {{"firecracker-0cpu-4gb"}, Errc::invalid_argument, "cpu must be at least 1"},
      {{"firerun/" + std::string(300, 'a')}, Errc::invalid_argument, "longer than 256"},
      {{std::string("firerun/cpu=\x01\xff")}, Errc::invalid_argument, "positive whole number"},
  };
  for (const auto& c : cases) {
    auto r = shape_from_labels(c.labels, test_policy());
    ASSERT_FALSE(r) << c.labels.back();
    EXPECT_EQ(r.error().errc(), c.code) << c.labels.back() << ": " << r.error().what();
    EXPECT_NE(r.error().what().find(c.message_part), std::string::npos) << r.error().what();
    for (char ch : r.error().what()) EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "unprintable in message";
  }
}

TEST(Labels, AllowListsOfImagesAndPools) {
  auto policy = test_policy();
  policy.limits.images = {"ubuntu", "debian"};
  policy.limits.pools = {"default"};
  EXPECT_TRUE(shape_from_labels(std::vector<std::string>{"firerun/image=debian"}, policy));
  auto r = shape_from_labels(std::vector<std::string>{"firerun/image=windows"}, policy);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errc(), Errc::limit_exceeded);
  EXPECT_NE(r.error().what().find("asks for image 'windows', hosts offer only: ubuntu, debian"), std::string::npos);
  EXPECT_EQ(shape_from_labels(std::vector<std::string>{"firerun/pool=gpu"}, policy).error().errc(),
            Errc::limit_exceeded);
}

TEST(Labels, PolicyValidation) {
  EXPECT_TRUE(validate_label_policy(test_policy()));
  auto p = test_policy();
  p.defaults.vcpus = 32;
  auto r = validate_label_policy(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().what().find("asks for 32 vCPUs, hosts offer at most 16"), std::string::npos);
  p = test_policy();
  p.defaults.memory_gib = 0;
  EXPECT_EQ(validate_label_policy(p).error().errc(), Errc::invalid_argument);
  p = test_policy();
  p.defaults.image = "Bad Name";
  EXPECT_EQ(validate_label_policy(p).error().errc(), Errc::invalid_argument);
}

TEST(Labels, ResolveLabelsFillsRequestOrExplains) {
  JobRequest request;
  request.provider = "gitlab";
  request.job_id = 7;
  request.labels_known = false;
  std::string reason;
  auto no = resolve_labels(request, {"docker", "linux"}, test_policy(), &reason);
  ASSERT_TRUE(no);
  EXPECT_FALSE(*no);
  EXPECT_NE(reason.find("job 7 labels ['docker', 'linux'] do not ask for firerun"), std::string::npos) << reason;
  auto yes = resolve_labels(request, {"firerun/cpu=3"}, test_policy());
  ASSERT_TRUE(yes);
  EXPECT_TRUE(*yes);
  EXPECT_TRUE(request.labels_known);
  EXPECT_EQ(request.shape->vcpus, 3u);
  auto bad = resolve_labels(request, {"firerun/cpu=99"}, test_policy());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().what().find("gitlab job 7"), std::string::npos) << bad.error().what();
}

}  // namespace
}  // namespace firerun::ci
