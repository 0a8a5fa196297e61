// Where a local slipwayd keeps its data when no --data-dir is given, shared by slipwayd and the
// CLI so that `slipway` finds the local daemon's token and ports by itself.
#ifndef SLIPWAY_COMMON_PATHS_H_
#define SLIPWAY_COMMON_PATHS_H_

#include <string>

namespace slipway {

// $SLIPWAY_DATA_DIR if set, else $HOME/.local/share/slipway, else ./slipway-data.
std::string DefaultDataDir();

}  // namespace slipway

#endif  // SLIPWAY_COMMON_PATHS_H_
