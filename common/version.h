// Slipway's version, from the project() line of the top-level CMakeLists.txt.
#ifndef SLIPWAY_COMMON_VERSION_H_
#define SLIPWAY_COMMON_VERSION_H_

namespace slipway {

// "0.1.0".
const char* Version();

}  // namespace slipway

#endif  // SLIPWAY_COMMON_VERSION_H_
