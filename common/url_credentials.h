// Credentials written into URLs (`https://user:password@host/...`). Wherever Slipway shows text
// that may quote a URL (responses, error messages, its own log), the user-info part is masked.
#ifndef SLIPWAY_COMMON_URL_CREDENTIALS_H_
#define SLIPWAY_COMMON_URL_CREDENTIALS_H_

#include <string>
#include <string_view>

namespace slipway {

// True when `text` has a "scheme://user-info@" somewhere that MaskUrlCredentials would change.
bool HasUrlCredentials(std::string_view text);

// `text` with the user-info of every URL in it replaced by "***": "https://ci:tok@git.example/x"
// becomes "https://***@git.example/x". Text without such a URL is returned unchanged.
std::string MaskUrlCredentials(std::string_view text);

}  // namespace slipway

#endif  // SLIPWAY_COMMON_URL_CREDENTIALS_H_
