// A main() for the fuzz targets when libFuzzer is not there (g++ builds, the default test suite):
// it feeds every corpus file to LLVMFuzzerTestOneInput, then deterministic mutants of each
// (truncations, byte flips, inserted delimiters, splices with the next file), so the ordinary and
// the sanitizer suites exercise each target on thousands of inputs. A finding aborts, as it
// would under libFuzzer. Usage: PROGRAM [--mutants N] FILE_OR_DIR...
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;
using bytes = std::vector<std::uint8_t>;

bytes read_bytes(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// xorshift64: the same mutants on every run, so a failure reproduces.
struct rng {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

void run_one(const bytes& input) {
  // A copy in its own allocation, so ASan sees reads past the end exactly as under libFuzzer.
  auto* copy = static_cast<std::uint8_t*>(std::malloc(std::max<std::size_t>(input.size(), 1)));
  if (!input.empty()) std::memcpy(copy, input.data(), input.size());
  LLVMFuzzerTestOneInput(copy, input.size());
  std::free(copy);
}

bytes mutate(const bytes& base, const bytes& other, rng& random) {
  static constexpr std::uint8_t interesting[] = {'{', '}',  '[',  ']',  '"', '\\', ':', ',', '\n', '\r',
                                                 0,   0xff, 0xc3, 0x80, '%', '?',  '&', '=', '-',  '9'};
  bytes out = base;
  const auto edits = 1 + random.below(4);
  for (std::size_t e = 0; e < edits; ++e) {
    switch (random.below(6)) {
      case 0:  // truncate
        out.resize(random.below(out.size() + 1));
        break;
      case 1:  // flip a byte
        if (!out.empty()) out[random.below(out.size())] ^= static_cast<std::uint8_t>(1u << random.below(8));
        break;
      case 2:  // insert a delimiter
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(random.below(out.size() + 1)),
                   interesting[random.below(sizeof interesting)]);
        break;
      case 3:  // delete a range
        if (!out.empty()) {
          const auto at = random.below(out.size());
          const auto n = std::min(out.size() - at, 1 + random.below(16));
          out.erase(out.begin() + static_cast<std::ptrdiff_t>(at), out.begin() + static_cast<std::ptrdiff_t>(at + n));
        }
        break;
      case 4:  // splice in a piece of another input
        if (!other.empty()) {
          const auto from = random.below(other.size());
          const auto n = std::min(other.size() - from, 1 + random.below(64));
          out.insert(out.begin() + static_cast<std::ptrdiff_t>(random.below(out.size() + 1)),
                     other.begin() + static_cast<std::ptrdiff_t>(from),
                     other.begin() + static_cast<std::ptrdiff_t>(from + n));
        }
        break;
      default:  // repeat a piece (deep nesting, long runs)
        if (!out.empty()) {
          const auto at = random.below(out.size());
          const auto n = std::min(out.size() - at, 1 + random.below(4));
          const bytes piece(out.begin() + static_cast<std::ptrdiff_t>(at),
                            out.begin() + static_cast<std::ptrdiff_t>(at + n));
          for (std::size_t r = random.below(200); r > 0; --r) {
            out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
          }
        }
        break;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mutants = 200;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutants" && i + 1 < argc) {
      mutants = std::strtoul(argv[++i], nullptr, 10);
    } else if (fs::is_directory(arg)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.emplace_back(arg);
    } else {
      std::fprintf(stderr, "usage: %s [--mutants N] FILE_OR_DIR...  (%s is neither)\n", argv[0], arg.c_str());
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "%s: no corpus files given\n", argv[0]);
    return 2;
  }
  std::sort(files.begin(), files.end());
  std::vector<bytes> corpus;
  for (const auto& file : files) corpus.push_back(read_bytes(file));

  std::size_t executed = 0;
  for (const auto& input : corpus) {
    run_one(input);
    ++executed;
  }
  rng random{0x9e3779b97f4a7c15ULL};
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const auto& other = corpus[(i + 1) % corpus.size()];
    for (std::size_t m = 0; m < mutants; ++m) {
      run_one(mutate(corpus[i], other, random));
      ++executed;
    }
  }
  std::printf("%s: %zu inputs (%zu corpus files, %zu mutants each), no finding\n", argv[0], executed, corpus.size(),
              mutants);
  return 0;
}
