// Authenticated encryption of secret values at rest: AES-256-GCM (OpenSSL) under a 256-bit key
// kept outside the database. A sealed value is text, so it fits wherever the plain value did:
// "slipway-sealed:v1:" + base64(12-byte random nonce | ciphertext | 16-byte tag).
#ifndef SLIPWAY_COMMON_SECRET_BOX_H_
#define SLIPWAY_COMMON_SECRET_BOX_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace slipway {

inline constexpr std::string_view kSealedPrefix = "slipway-sealed:v1:";

class SecretBox {
 public:
  // A box from 32 key bytes. INVALID_ARGUMENT for another length.
  static absl::StatusOr<SecretBox> FromKey(std::string_view key);
  // Reads a key file: 64 hex characters (a trailing newline is allowed). With
  // `create_if_missing`, a missing file is created 0600 with a new random key.
  // FAILED_PRECONDITION naming the file when it cannot be read or is malformed.
  static absl::StatusOr<SecretBox> FromKeyFile(const std::string& path, bool create_if_missing);
  // Writes a new random key to `path` (0600, replacing nothing: ALREADY_EXISTS if it exists).
  static absl::Status WriteNewKeyFile(const std::string& path);

  // A sealed form of `plain` (a new nonce each time).
  std::string Seal(std::string_view plain) const;
  // The plain value of a sealed one. DATA_LOSS if it was sealed under another key or altered.
  absl::StatusOr<std::string> Open(std::string_view sealed) const;
  static bool IsSealed(std::string_view value) { return value.substr(0, kSealedPrefix.size()) == kSealedPrefix; }

  // A public id of the key (16 hex characters of a hash), to tell keys apart without showing them.
  const std::string& key_id() const { return key_id_; }

 private:
  SecretBox(std::string key, std::string key_id) : key_(std::move(key)), key_id_(std::move(key_id)) {}
  std::string key_;
  std::string key_id_;
};

}  // namespace slipway

#endif  // SLIPWAY_COMMON_SECRET_BOX_H_
