// The parts of the Docker Engine API the container driver uses, over its unix socket (Docker's
// /var/run/docker.sock, or Podman's API service, which speaks the same API). Every error names
// the socket and the object. Thread-safe: each call is its own connection.
#ifndef SLIPWAY_DEPLOY_CONTAINER_ENGINE_H_
#define SLIPWAY_DEPLOY_CONTAINER_ENGINE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "deploy/unix_http.h"
#include "nlohmann/json.hpp"

namespace slipway::deploy {

using Labels = std::map<std::string, std::string>;

struct ImageInfo {
  std::string id;  // "sha256:…"
  std::vector<std::string> repo_digests;
};

// One container as a listing or an inspection shows it.
struct ContainerInfo {
  std::string id;
  std::string name;  // without the leading '/'
  Labels labels;
  bool running = false;
  std::string state;  // "running", "exited", "created", …
  int exit_code = 0;
  std::string image_id;
  // Container port ("8080/tcp") → host port, for published ports.
  std::map<std::string, int> host_ports;
  std::vector<std::string> volumes;  // names of the named volumes it mounts
  int64_t created = 0;               // unix seconds
};

struct NetworkInfo {
  std::string id;
  std::string name;
  Labels labels;
};

struct VolumeInfo {
  std::string name;
  Labels labels;
};

class ContainerEngine {
 public:
  // `host`: "unix:///run/podman/podman.sock" or a bare socket path.
  explicit ContainerEngine(const std::string& host, absl::Duration timeout = absl::Seconds(60));

  const std::string& socket() const { return socket_; }
  // "unix://<socket>", for messages.
  std::string where() const { return "unix://" + socket_; }

  // The engine's version string; UNAVAILABLE when it cannot be reached.
  absl::StatusOr<std::string> Version();

  // nullopt when the image is not present.
  absl::StatusOr<std::optional<ImageInfo>> InspectImage(const std::string& ref);
  // Pulls `ref` (tag or digest), with `auth` (the X-Registry-Auth JSON, empty for none).
  // NOT_FOUND or UNAVAILABLE naming the image when the pull fails.
  absl::Status PullImage(const std::string& ref, const std::string& auth_json);

  absl::StatusOr<std::optional<NetworkInfo>> InspectNetwork(const std::string& name);
  // OK when it already exists.
  absl::Status CreateNetwork(const std::string& name, const Labels& labels);
  // OK when it does not exist.
  absl::Status RemoveNetwork(const std::string& name);
  absl::StatusOr<std::vector<NetworkInfo>> ListNetworks(const std::string& label_filter);

  // OK when it already exists.
  absl::Status CreateVolume(const std::string& name, const Labels& labels);
  // OK when it does not exist.
  absl::Status RemoveVolume(const std::string& name);
  absl::StatusOr<std::vector<VolumeInfo>> ListVolumes(const std::string& label_filter);

  // Returns the new container's id.
  absl::StatusOr<std::string> CreateContainer(const std::string& name,
                                              const nlohmann::json& config);
  absl::Status StartContainer(const std::string& id);
  absl::StatusOr<std::optional<ContainerInfo>> InspectContainer(const std::string& id);
  // Every container (running or not) carrying the label `label_filter` ("key" or "key=value").
  absl::StatusOr<std::vector<ContainerInfo>> ListContainers(
      const std::vector<std::string>& label_filters);
  // Stops (SIGTERM, then SIGKILL after `grace`) and removes it; OK when it does not exist.
  absl::Status RemoveContainer(const std::string& id, absl::Duration grace);
  // Waits for the container to exit; its exit code. DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<int> WaitContainer(const std::string& id, absl::Duration timeout);
  // The container's output: the last `tail` lines (0: all), then with `follow` new output until
  // `sink` returns false or the container stops. Frames of the multiplexed stream are decoded;
  // stdout and stderr are interleaved.
  absl::Status Logs(const std::string& id, bool follow, int tail, const BodySink& sink);

 private:
  absl::StatusOr<UnixHttpResponse> Call(const std::string& method, const std::string& target,
                                        const std::string& body = "",
                                        absl::Duration timeout = absl::ZeroDuration());
  absl::Status Failure(const UnixHttpResponse& r, const std::string& what) const;

  std::string socket_;
  absl::Duration timeout_;
};

// Percent-encodes `text` for a URL query value.
std::string QueryEscape(const std::string& text);

}  // namespace slipway::deploy

#endif  // SLIPWAY_DEPLOY_CONTAINER_ENGINE_H_
