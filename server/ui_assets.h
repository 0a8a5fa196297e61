// The dashboard's built files, embedded in slipwayd by the build (ui/CMakeLists.txt,
// cmake/embed_ui.cmake): "/" (index.html), "/assets/app.js" and "/assets/app.css".
#ifndef SLIPWAY_SERVER_UI_ASSETS_H_
#define SLIPWAY_SERVER_UI_ASSETS_H_

#include <string_view>
#include <vector>

namespace slipway::server {

struct UiAsset {
  std::string_view path;
  std::string_view content_type;
  std::string_view body;
};

const std::vector<UiAsset>& UiAssets();

}  // namespace slipway::server

#endif  // SLIPWAY_SERVER_UI_ASSETS_H_
