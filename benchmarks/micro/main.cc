// firerun-micro-bench: Google Benchmark over hot paths, each paired with an
// in-run baseline where one is meaningful; prints firerun ÷ baseline at the end.
// Extra flag: --ratios_out=FILE writes those ratios as JSON.
#include "ratio_reporter.h"

#include <cstring>
#include <fstream>
#include <iostream>

#include <unistd.h>

int main(int argc, char** argv) {
  std::string ratios_out;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--ratios_out=", 13) == 0)
      ratios_out = argv[i] + 13;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Colour only on a terminal, so redirected output stays plain text.
  firerun::bench::RatioReporter reporter(::isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                                 : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios(std::cout);
  if (!ratios_out.empty()) {
    std::ofstream out(ratios_out, std::ios::trunc);
    out << reporter.ratios_json() << "\n";
    if (!out) {
      std::cerr << "cannot write " << ratios_out << "\n";
      return 1;
    }
  }
  benchmark::Shutdown();
  return 0;
}
