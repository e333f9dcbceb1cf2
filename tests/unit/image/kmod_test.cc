#include "image/kmod.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

namespace firerun::image::detail {
namespace {
namespace fs = std::filesystem;

// A minimal ELF64 relocatable with a .modinfo section, like a kernel module.
std::string fake_module(const std::string& modinfo) {
  const std::string shstrtab = std::string("\0.modinfo\0.shstrtab\0", 20);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_REL;
  eh.e_machine = EM_X86_64;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  eh.e_shstrndx = 2;
  std::string body = modinfo + shstrtab;
  eh.e_shoff = sizeof(Elf64_Ehdr) + body.size();
  Elf64_Shdr sh[3]{};
  sh[1].sh_name = 1;
  sh[1].sh_type = SHT_PROGBITS;
  sh[1].sh_offset = sizeof(Elf64_Ehdr);
  sh[1].sh_size = modinfo.size();
  sh[2].sh_name = 10;
  sh[2].sh_type = SHT_STRTAB;
  sh[2].sh_offset = sizeof(Elf64_Ehdr) + modinfo.size();
  sh[2].sh_size = shstrtab.size();
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  out += body;
  out.append(reinterpret_cast<const char*>(sh), sizeof sh);
  return out;
}

std::string info(const std::string& name, const std::string& depends) {
  return std::string("license=GPL\0", 12) + "depends=" + depends + std::string("\0", 1) + "name=" + name +
         std::string("\0", 1);
}

TEST(Kmod, ReadsModinfo) {
  auto m = parse_modinfo(fake_module(info("virtio_pci", "virtio_ring,virtio")));
  ASSERT_TRUE(m) << m.error().what();
  EXPECT_EQ(m->at("depends"), "virtio_ring,virtio");
  EXPECT_EQ(m->at("name"), "virtio_pci");
  EXPECT_FALSE(parse_modinfo("not an elf"));
  auto elf = fake_module(info("x", ""));
  EXPECT_FALSE(parse_modinfo(elf.substr(0, elf.size() - 10)));  // truncated section headers
}

TEST(Kmod, ModulesOrderAndNames) {
  auto m = parse_modules_order("kernel/drivers/char/hw_random/virtio-rng.ko\nkernel/drivers/virtio/virtio.ko\n\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("virtio_rng"), "kernel/drivers/char/hw_random/virtio-rng.ko");
  EXPECT_FALSE(parse_modules_order("kernel/../../etc/shadow.ko\n"));
  EXPECT_FALSE(parse_modules_order("/abs/x.ko\n"));
}

class ModuleTree : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("firerun-kmod-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "kernel");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void add(const std::string& file, const std::string& name, const std::string& deps) {
    std::ofstream(dir_ / "kernel" / file, std::ios::binary) << fake_module(info(name, deps));
    order_ += "kernel/" + file + "\n";
    std::ofstream(dir_ / "modules.order") << order_;
  }
  fs::path dir_;
  std::string order_;
};

TEST_F(ModuleTree, ResolvesDependenciesFirstOnce) {
  add("virtio.ko", "virtio", "");
  add("virtio_ring.ko", "virtio_ring", "");
  add("virtio_pci_modern_dev.ko", "virtio_pci_modern_dev", "");
  add("virtio_pci.ko", "virtio_pci", "virtio_ring,virtio_pci_modern_dev,virtio");
  add("virtio-rng.ko", "virtio_rng", "virtio,virtio_ring");
  add("unused.ko", "unused", "");
  std::ofstream(dir_ / "modules.builtin") << "kernel/drivers/builtin_thing.ko\n";
  auto mods = resolve_modules(dir_, {"virtio_pci", "virtio-rng", "builtin_thing"});
  ASSERT_TRUE(mods) << mods.error().what();
  std::vector<std::string> names;
  for (const auto& m : *mods) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"virtio_ring", "virtio_pci_modern_dev", "virtio", "virtio_pci", "virtio_rng"}));
  EXPECT_EQ(mods->back().relative_path, "kernel/virtio-rng.ko");
}

TEST_F(ModuleTree, MissingAndCyclicModulesAreErrors) {
  add("a.ko", "a", "b");
  add("b.ko", "b", "a");
  add("c.ko", "c", "nothere");
  auto cyc = resolve_modules(dir_, {"a"});
  ASSERT_FALSE(cyc);
  EXPECT_NE(cyc.error().message().find("cycle"), std::string::npos);
  auto missing = resolve_modules(dir_, {"c"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().errc(), Errc::not_found);
  EXPECT_NE(missing.error().message().find("needed by c"), std::string::npos);
}

}  // namespace
}  // namespace firerun::image::detail
