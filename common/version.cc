#include "common/version.h"

namespace slipway {

const char* Version() { return SLIPWAY_VERSION; }

}  // namespace slipway
