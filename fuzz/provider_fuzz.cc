// Fuzz target for the webhook provider parsers: arbitrary bytes as the body of a delivery from
// one provider (chosen by SLIPWAY_FUZZ_PROVIDER at build time or by the first byte), through
// parsing, delivery ids and signature checks. Must never crash, leak or read out of bounds.
//
// Built with clang as a libFuzzer target (scripts/test.sh does this when clang is installed);
// with other compilers the main() below replays the given files and deterministic mutations
// of them, so the same target also runs under the ASan build of the suite.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "trigger/providers.h"

namespace {

constexpr slipway::v1::Provider kProviders[] = {
    slipway::v1::PROVIDER_GITHUB, slipway::v1::PROVIDER_GITLAB, slipway::v1::PROVIDER_GITEA,
    slipway::v1::PROVIDER_BITBUCKET};

void FuzzOne(slipway::v1::Provider provider, std::string_view body) {
  using slipway::trigger::Headers;
  static const char* kEvents[][4] = {
      {"push", "pull_request", "ping", "delete"},
      {"Push Hook", "Tag Push Hook", "Merge Request Hook", "Note Hook"},
      {"push", "pull_request", "create", "release"},
      {"repo:push", "pullrequest:created", "pullrequest:fulfilled", "issue:created"}};
  const char* header = provider == slipway::v1::PROVIDER_GITHUB   ? "x-github-event"
                       : provider == slipway::v1::PROVIDER_GITLAB ? "x-gitlab-event"
                       : provider == slipway::v1::PROVIDER_GITEA  ? "x-gitea-event"
                                                                  : "x-event-key";
  int p = static_cast<int>(provider) - 1;
  for (const char* event : kEvents[p]) {
    Headers h = {{header, event}, {"x-hub-signature-256", "sha256=00"}};
    auto e = slipway::trigger::ParseDelivery(provider, h, body);
    if (e.ok()) (void)e->ByteSizeLong();
  }
  (void)slipway::trigger::DeliveryId(provider, {}, body);
  (void)slipway::trigger::VerifySignature(provider, {{"x-gitlab-token", std::string(body.substr(0, 8))}}, body, "k");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
#ifdef SLIPWAY_FUZZ_PROVIDER
  FuzzOne(static_cast<slipway::v1::Provider>(SLIPWAY_FUZZ_PROVIDER), body);
#else
  if (size == 0) return 0;
  FuzzOne(kProviders[data[0] % 4], body.substr(1));
#endif
  return 0;
}

#ifndef SLIPWAY_LIBFUZZER
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

// Replays each file, then `rounds` mutations of it (bit flips, truncations, byte insertions,
// splices of JSON punctuation), deterministically.
int main(int argc, char** argv) {
  int rounds = 300;
  int inputs = 0;
  std::mt19937 rng(12345);
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[i]);
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string original = ss.str();
    for (slipway::v1::Provider p : kProviders) FuzzOne(p, original);
    for (int r = 0; r < rounds; ++r) {
      std::string m = original;
      int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits && !m.empty(); ++e) {
        size_t at = rng() % m.size();
        switch (rng() % 5) {
          case 0: m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8))); break;
          case 1: m.resize(at); break;
          case 2: m.insert(at, 1, "{}[]\",:0\\"[rng() % 10]); break;
          case 3: m.erase(at, std::min<size_t>(m.size() - at, rng() % 64)); break;
          default: m.insert(at, m.substr(rng() % m.size(), rng() % 32)); break;
        }
      }
      for (slipway::v1::Provider p : kProviders) FuzzOne(p, m);
      ++inputs;
    }
  }
  std::printf("%d inputs ran without a crash\n", inputs);
  return inputs > 0 ? 0 : 1;
}
#endif
