// An IdGenerator that returns predictable, distinct values: 000…01, 000…02, …
#ifndef SLIPWAY_TESTS_TESTING_SEQUENTIAL_IDS_H_
#define SLIPWAY_TESTS_TESTING_SEQUENTIAL_IDS_H_

#include <atomic>
#include <cstdio>
#include <string>

#include "common/random.h"

namespace slipway::testing {

class SequentialIds final : public IdGenerator {
 public:
  std::string RandomHex(int bytes) override {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(++next_));
    std::string s(buf);
    std::string out(2 * bytes, '0');
    for (size_t i = 0; i < s.size() && i < out.size(); ++i) {
      out[out.size() - 1 - i] = s[s.size() - 1 - i];
    }
    return out;
  }

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace slipway::testing

#endif  // SLIPWAY_TESTS_TESTING_SEQUENTIAL_IDS_H_
