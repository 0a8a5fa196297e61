#include "common/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/private_files.h"
#include "common/random.h"

namespace slipway {
namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

std::string NewKeyHex() {
  unsigned char key[kKeyBytes];
  RAND_bytes(key, sizeof(key));
  return HexEncode(std::string_view(reinterpret_cast<const char*>(key), sizeof(key)));
}

}  // namespace

absl::StatusOr<SecretBox> SecretBox::FromKey(std::string_view key) {
  if (key.size() != kKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("secret key: ", key.size(),
                                                   " bytes; an AES-256 key is 32 bytes"));
  }
  return SecretBox(std::string(key), Sha256Hex("slipway-key-id:" + std::string(key)).substr(0, 16));
}

absl::Status SecretBox::WriteNewKeyFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
  }
  return WritePrivateFile(path, NewKeyHex() + "\n");
}

absl::StatusOr<SecretBox> SecretBox::FromKeyFile(const std::string& path, bool create_if_missing) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && create_if_missing) {
    if (absl::Status s = WriteNewKeyFile(path); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--secret-key-file: cannot create ", path, ": ", s.message()));
    }
  }
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("--secret-key-file: cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string hex(absl::StripAsciiWhitespace(ss.str()));
  std::string key;
  if (hex.size() != 2 * kKeyBytes || !absl::c_all_of(hex, absl::ascii_isxdigit)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--secret-key-file: ", path, " must hold 64 hex characters (a 256-bit key)"));
  }
  key = absl::HexStringToBytes(hex);
  return FromKey(key);
}

std::string SecretBox::Seal(std::string_view plain) const {
  unsigned char nonce[kNonceBytes];
  RAND_bytes(nonce, sizeof(nonce));
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  std::memcpy(out.data(), nonce, kNonceBytes);
  Cipher c(EVP_CIPHER_CTX_new());
  int len = 0;
  auto* key = reinterpret_cast<const unsigned char*>(key_.data());
  auto* dst = reinterpret_cast<unsigned char*>(out.data()) + kNonceBytes;
  EVP_EncryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr);
  EVP_EncryptInit_ex(c.get(), nullptr, nullptr, key, nonce);
  EVP_EncryptUpdate(c.get(), dst, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  int tail = 0;
  EVP_EncryptFinal_ex(c.get(), dst + len, &tail);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, dst + plain.size());
  return std::string(kSealedPrefix) + absl::Base64Escape(out);
}

absl::StatusOr<std::string> SecretBox::Open(std::string_view sealed) const {
  if (!IsSealed(sealed)) return absl::InvalidArgumentError("not a sealed value");
  std::string raw;
  if (!absl::Base64Unescape(std::string(sealed.substr(kSealedPrefix.size())), &raw) ||
      raw.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError("a sealed secret is malformed");
  }
  size_t n = raw.size() - kNonceBytes - kTagBytes;
  std::string plain(n, '\0');
  auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  Cipher c(EVP_CIPHER_CTX_new());
  int len = 0;
  EVP_DecryptInit_ex(c.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr);
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr);
  EVP_DecryptInit_ex(c.get(), nullptr, nullptr, reinterpret_cast<const unsigned char*>(key_.data()),
                     in);
  EVP_DecryptUpdate(c.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                    in + kNonceBytes, static_cast<int>(n));
  EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                      const_cast<unsigned char*>(in + kNonceBytes + n));
  int tail = 0;
  if (EVP_DecryptFinal_ex(c.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &tail) != 1) {
    return absl::DataLossError(
        "a sealed secret does not open with this key (another key, or altered)");
  }
  return plain;
}

}  // namespace slipway
