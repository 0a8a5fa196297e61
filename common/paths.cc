#include "common/paths.h"

#include <cstdlib>

namespace slipway {

std::string DefaultDataDir() {
  if (const char* dir = std::getenv("SLIPWAY_DATA_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.local/share/slipway";
  }
  return "slipway-data";
}

}  // namespace slipway
