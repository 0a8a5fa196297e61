// Randomness and ids come in through IdGenerator so tests can make them deterministic.
// Also: SHA-256, hex, and constant-time comparison used for tokens and signatures.
#ifndef SLIPWAY_COMMON_RANDOM_H_
#define SLIPWAY_COMMON_RANDOM_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace slipway {

// Thread-safe in every implementation.
class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // Returns `bytes` random bytes encoded as lower-case hex (2 * bytes characters).
  virtual std::string RandomHex(int bytes) = 0;
  // A new unique id for a stored resource (128 random bits, hex).
  std::string NewUid() { return RandomHex(16); }
  // 16 hex characters that sort in creation order, for ids of records written at a high rate
  // (runs, deliveries): new keys land at the end of their indexes instead of on random pages,
  // so a transaction rewrites a few pages instead of one per key. Not a secret.
  virtual std::string OrderedHex() { return RandomHex(8); }
};

// Cryptographically secure randomness from OpenSSL.
class SecureIdGenerator final : public IdGenerator {
 public:
  // `clock` orders the ids of OrderedHex (null: the system clock). Not owned.
  explicit SecureIdGenerator(const Clock* clock = nullptr);
  std::string RandomHex(int bytes) override;
  // 44 bits of Unix milliseconds, then 20 bits that start at a random value in each millisecond
  // and count up within it; never repeats or goes backwards within a process, also when the
  // clock steps back.
  std::string OrderedHex() override;

 private:
  const Clock* clock_;
  std::mutex mu_;
  uint64_t last_ = 0;
};

std::string HexEncode(std::string_view bytes);
// Raw 32-byte SHA-256 digest.
std::string Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
// HMAC-SHA256 of `data` with `key`, lower-case hex.
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Compares without leaking where the inputs differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_RANDOM_H_
